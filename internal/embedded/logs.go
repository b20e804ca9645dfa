package embedded

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// LogReader reads the log files the Executor writes. A token is the byte
// offset after the last line returned.
type LogReader struct {
	dir string
}

var _ flotilla.LogReader = (*LogReader)(nil)

// NewLogReader reads logs under dir (the executor's dir).
func NewLogReader(dir string) *LogReader { return &LogReader{dir: dir} }

const (
	defaultLogLimit = 1000
	maxLogLimit     = 10000
)

// ReadLogs implements flotilla.LogReader.
func (l *LogReader) ReadLogs(ctx context.Context, r flotilla.Run, q flotilla.LogQuery) (flotilla.LogPage, error) {
	offset, err := decodeLogToken(q.Token)
	if err != nil {
		return flotilla.LogPage{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLogLimit
	}
	limit = min(limit, maxLogLimit)
	f, err := os.Open(LogPath(l.dir, r.ID))
	if errors.Is(err, os.ErrNotExist) {
		return flotilla.LogPage{Events: []flotilla.LogEvent{}, NextToken: encodeLogToken(offset), End: true}, nil
	}
	if err != nil {
		return flotilla.LogPage{}, fmt.Errorf("read logs of run %s: %w", r.ID, err)
	}
	defer f.Close()
	if q.Token == "" && q.Tail > 0 {
		// Start at the last Tail matching lines, then page forward from
		// there like any other read: a tail is bounded like any page, and
		// its next_token carries on through the lines it could not hold.
		if offset, err = tailOffset(ctx, f, q); err != nil {
			return flotilla.LogPage{}, fmt.Errorf("read logs of run %s: %w", r.ID, err)
		}
		limit = max(limit, min(q.Tail, maxLogLimit))
	}
	// Log files only grow, so a token past the end was not made here (an
	// offset beyond what the OS can seek would otherwise be a 500).
	if fi, err := f.Stat(); err == nil && offset > fi.Size() {
		return flotilla.LogPage{}, flotilla.Invalid("next_token", "is not a log token this server made")
	}
	// Tokens this server makes point at the start of a line.
	if offset > 0 {
		var b [1]byte
		if _, err := f.ReadAt(b[:], offset-1); err != nil || b[0] != '\n' {
			return flotilla.LogPage{}, flotilla.Invalid("next_token", "is not a log token this server made")
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return flotilla.LogPage{}, fmt.Errorf("read logs of run %s: %w", r.ID, err)
	}
	page := flotilla.LogPage{Events: []flotilla.LogEvent{}}
	br := bufio.NewReaderSize(f, 64<<10)
	size := 0
	// A page ends at limit lines or flotilla.MaxLogPageBytes of messages,
	// whichever comes first (at least one line, so paging always moves).
	for len(page.Events) < limit && size < flotilla.MaxLogPageBytes {
		if err := ctx.Err(); err != nil {
			return flotilla.LogPage{}, err
		}
		line, err := br.ReadString('\n')
		if err != nil {
			// A partial last line is still being written: leave it for later.
			page.End = true
			break
		}
		if ev, ok := parseLogLine(line); ok && matchesQuery(q, ev) {
			if len(page.Events) > 0 && size+len(ev.Message) > flotilla.MaxLogPageBytes {
				break // this line starts the next page
			}
			size += len(ev.Message)
			page.Events = append(page.Events, ev)
		}
		offset += int64(len(line))
	}
	if !page.End {
		if _, err := br.Peek(1); err != nil {
			page.End = true
		}
	}
	page.NextToken = encodeLogToken(offset)
	return page, nil
}

// tailOffset is where the last q.Tail matching lines start (capped at
// maxLogLimit lines): one pass over the file keeping a ring of line
// offsets, never the lines themselves.
func tailOffset(ctx context.Context, f *os.File, q flotilla.LogQuery) (int64, error) {
	n := min(q.Tail, maxLogLimit)
	ring := make([]int64, 0, min(n, 1024))
	next := 0 // ring index of the oldest offset once the ring is full
	var offset int64
	br := bufio.NewReaderSize(f, 64<<10)
	for i := 0; ; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		if ev, ok := parseLogLine(line); ok && matchesQuery(q, ev) {
			if len(ring) < n {
				ring = append(ring, offset)
			} else {
				ring[next] = offset
				next = (next + 1) % n
			}
		}
		offset += int64(len(line))
	}
	if len(ring) == 0 {
		return offset, nil
	}
	if len(ring) < n {
		return ring[0], nil
	}
	return ring[next], nil
}

func matchesQuery(q flotilla.LogQuery, ev flotilla.LogEvent) bool {
	if !q.Since.IsZero() && ev.Timestamp.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !ev.Timestamp.Before(q.Until) {
		return false
	}
	return q.Search == "" || strings.Contains(ev.Message, q.Search)
}

func parseLogLine(line string) (flotilla.LogEvent, bool) {
	line = strings.TrimSuffix(line, "\n")
	stream := ""
	if rest, ok := strings.CutPrefix(line, StderrMark); ok {
		line, stream = rest, "stderr"
	}
	ts, msg, ok := strings.Cut(line, "\t")
	if !ok {
		return flotilla.LogEvent{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return flotilla.LogEvent{}, false
	}
	return flotilla.LogEvent{Timestamp: t, Message: msg, Stream: stream}, true
}

func encodeLogToken(offset int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("f1:" + strconv.FormatInt(offset, 10)))
}

func decodeLogToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		if s, ok := strings.CutPrefix(string(b), "f1:"); ok {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, flotilla.Invalid("next_token", "is not a log token this server made")
}
