package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// runJob starts one attempt of command on ex and waits for its end event.
func runJob(t *testing.T, ex *embedded.Executor, events chan flotilla.TaskEvent, id, command string) flotilla.TaskEvent {
	t.Helper()
	r := flotilla.Run{ID: id, Alias: "j", Cluster: "default", Attempt: 1, Command: command, CPU: 256, Memory: 128, Env: map[string]string{}}
	if _, err := ex.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-events:
			if ev.State == flotilla.TaskStopped {
				return ev
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("run %s did not end", id)
		}
	}
}

func newExecutor(t *testing.T, dir string, log *slog.Logger) (*embedded.Executor, chan flotilla.TaskEvent) {
	events := make(chan flotilla.TaskEvent, 100)
	ex := embedded.NewExecutor(dir, false, func(ev flotilla.TaskEvent) { events <- ev }, log)
	ex.StopGrace = 2 * time.Second
	t.Cleanup(ex.Close)
	return ex, events
}

func readAll(t *testing.T, lr *embedded.LogReader, id string, q flotilla.LogQuery) (lines []string, pages int, maxPageBytes int) {
	t.Helper()
	for {
		p, err := lr.ReadLogs(context.Background(), flotilla.Run{ID: id}, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		size := 0
		for _, ev := range p.Events {
			lines = append(lines, ev.Message)
			size += len(ev.Message)
		}
		maxPageBytes = max(maxPageBytes, size)
		if p.End && len(p.Events) == 0 || pages > 10000 {
			return lines, pages, maxPageBytes
		}
		q.Token, q.Tail = p.NextToken, 0
	}
}

// TestLogPagesAreBoundedInBytes: a run writing big lines is read in pages
// of at most 1 MiB of messages (and still every line, in order, once),
// and a tail of any size up to the limit starts at the right line and
// pages on.
func TestLogPagesAreBoundedInBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ex, events := newExecutor(t, dir, nil)
	// 40 lines of 200 KiB (8 MB), then 4,500 short ones.
	ev := runJob(t, ex, events, "run_01JDBIGLINES", `i=0; while [ $i -lt 40 ]; do head -c 204800 /dev/zero | tr '\0' x; echo " $i"; i=$((i+1)); done; seq 1 4500`)
	if ev.ExitCode == nil || *ev.ExitCode != 0 {
		t.Fatalf("job: %+v", ev)
	}
	lr := embedded.NewLogReader(dir)
	lines, pages, biggest := readAll(t, lr, "run_01JDBIGLINES", flotilla.LogQuery{Limit: 10000})
	if len(lines) != 4540 || lines[39] != strings.Repeat("x", 204800)+" 39" || lines[40] != "1" || lines[4539] != "4500" {
		t.Fatalf("read %d lines in %d pages", len(lines), pages)
	}
	if biggest > flotilla.MaxLogPageBytes || pages < 8 {
		t.Fatalf("the biggest page held %d bytes of messages (%d pages); want at most %d", biggest, pages, flotilla.MaxLogPageBytes)
	}
	// Tail 4,200 of 4,540: from the line "301" on, across pages.
	lines, _, _ = readAll(t, lr, "run_01JDBIGLINES", flotilla.LogQuery{Tail: 4200})
	if len(lines) != 4200 || lines[0] != "301" || lines[4199] != "4500" {
		t.Fatalf("tail 4200: %d lines, first %.20q", len(lines), lines[0])
	}
	// A tail over everything is everything.
	lines, _, _ = readAll(t, lr, "run_01JDBIGLINES", flotilla.LogQuery{Tail: 9999})
	if len(lines) != 4540 {
		t.Fatalf("tail 9999: %d lines", len(lines))
	}
}

// TestRunLogCap: past the cap one marker line is written, later output is
// dropped, and the job runs on to its own end.
func TestRunLogCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ex, events := newExecutor(t, dir, nil)
	ex.MaxLogBytes = 64 << 10
	ev := runJob(t, ex, events, "run_01JDLOGCAP", `seq 1 100000; echo finished > done.txt`)
	if ev.ExitCode == nil || *ev.ExitCode != 0 || ev.StopCode != flotilla.StopCodeEssentialContainerExited {
		t.Fatalf("the job did not run to its end: %+v", ev)
	}
	st, err := os.Stat(embedded.LogPath(dir, "run_01JDLOGCAP"))
	if err != nil || st.Size() > 64<<10+512 {
		t.Fatalf("log size %v, %v; want about 64 KiB", st.Size(), err)
	}
	lines, _, _ := readAll(t, embedded.NewLogReader(dir), "run_01JDLOGCAP", flotilla.LogQuery{})
	last := lines[len(lines)-1]
	if want := fmt.Sprintf(embedded.LogCapMarker, 64<<10); last != want || lines[0] != "1" || len(lines) < 1000 {
		t.Fatalf("%d lines, last %q", len(lines), last)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "work", "run_01JDLOGCAP", "1", "done.txt")); err != nil || string(b) != "finished\n" {
		t.Fatalf("the job did not go on past the cap: %q %v", b, err)
	}
}

// TestLogsKeepCarriageReturnsAndMarkBadBytes: what a log keeps, as the
// executor's doc says: the text of each line without its "\n", "\r"
// included, each run of invalid UTF-8 bytes as one U+FFFD.
func TestLogsKeepCarriageReturnsAndMarkBadBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ex, events := newExecutor(t, dir, nil)
	runJob(t, ex, events, "run_01JDBYTES", `printf 'crlf\r\nbin \377\376 end\nprogress 1\rprogress 2\r\ntab\there\nlast'`)
	lines, _, _ := readAll(t, embedded.NewLogReader(dir), "run_01JDBYTES", flotilla.LogQuery{})
	want := []string{"crlf\r", "bin \uFFFD end", "progress 1\rprogress 2\r", "tab\there", "last"}
	if fmt.Sprintf("%q", lines) != fmt.Sprintf("%q", want) {
		t.Fatalf("lines %q, want %q", lines, want)
	}
}

// failingWriter fails every write after the first n.
type failingWriter struct {
	mu sync.Mutex
	n  int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n <= 0 {
		return 0, errors.New("no space left on device")
	}
	w.n--
	return len(p), nil
}
func (w *failingWriter) Close() error { return nil }

// TestWriteFailuresAreNotSilent: a log that cannot be written and an end
// that cannot be recorded on disk are logged as errors naming the run, and
// the job's end is still reported with its exit code (the store records
// it), so it is not later judged lost.
func TestWriteFailuresAreNotSilent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var logBuf syncBuffer
	ex, events := newExecutor(t, dir, slog.New(slog.NewTextHandler(&logBuf, nil)))
	ex.OpenLogFunc = func(string) (io.WriteCloser, error) { return &failingWriter{n: 2}, nil }
	ex.WriteFileFunc = func(name string, data []byte, perm os.FileMode) error {
		if filepath.Base(name) == ".exit" {
			return errors.New("no space left on device")
		}
		return os.WriteFile(name, data, perm)
	}
	ev := runJob(t, ex, events, "run_01JDDISKFULL", `seq 1 10`)
	if ev.ExitCode == nil || *ev.ExitCode != 0 || ev.StopCode != flotilla.StopCodeEssentialContainerExited {
		t.Fatalf("end = %+v; want exit 0 reported", ev)
	}
	out := logBuf.String()
	for _, want := range []string{"run output could not be written", "lines_lost=8", "could not record a run attempt's end", "run_01JDDISKFULL", "no space left"} {
		if !strings.Contains(out, want) {
			t.Errorf("server log lacks %q:\n%s", want, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestOwnEndBeforeStopWins: a job whose process exited 0 before the stop
// arrived (its output pipe still held open by a child) is reported as its
// own end, not as stopped.
func TestOwnEndBeforeStopWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ex, events := newExecutor(t, dir, nil)
	r := flotilla.Run{ID: "run_01JDOWNEND", Alias: "j", Cluster: "default", Attempt: 1, CPU: 256, Memory: 128, Env: map[string]string{},
		Command: `(sleep 5; echo late) & echo main-done; exit 0`}
	if _, err := ex.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	// Wait until the shell has exited (its child keeps the pipe open).
	wd := filepath.Join(dir, "work", r.ID, "1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(wd, ".pgid"))
		if pid := strings.TrimSpace(string(b)); pid != "" {
			st, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil || strings.Contains(string(st), ") Z ") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the job's shell did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ex.Stop(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-events:
			if ev.State != flotilla.TaskStopped {
				continue
			}
			if ev.StopCode != flotilla.StopCodeEssentialContainerExited || ev.ExitCode == nil || *ev.ExitCode != 0 {
				t.Fatalf("end = %s exit %v; want its own exit 0", ev.StopCode, ev.ExitCode)
			}
			return
		case <-time.After(20 * time.Second):
			t.Fatal("no end")
		}
	}
}

// TestDataDirIsPrivate: a data dir left 0755 with a 0644 database and logs
// by an earlier version is tightened on open; new files are 0600.
func TestDataDirIsPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	for _, d := range []string{dir, filepath.Join(dir, "logs"), filepath.Join(dir, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	for _, f := range []string{"flotilla.db", "logs/run_old.log"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, f), 0o644)
	}
	db, err := embedded.OpenDB(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ex, events := newExecutor(t, dir, nil)
	runJob(t, ex, events, "run_01JDPERMS", `echo hi`)
	want := map[string]os.FileMode{
		"": 0o700, "logs": 0o700, "work": 0o700, "work/run_01JDPERMS": 0o700,
		"flotilla.db": 0o600, "flotilla.db-wal": 0o600, "logs/run_old.log": 0o600, "logs/run_01JDPERMS.log": 0o600,
		"work/run_01JDPERMS/1/.exit": 0o600,
	}
	for name, mode := range want {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s is %o, want %o", name, st.Mode().Perm(), mode)
		}
	}
}
