// Package awslogs is Flotilla's LogReader on CloudWatch Logs.
//
// A run's lines are in one stream per attempt, named by the awslogs driver
// <prefix>/<container>/<task-id>, so no lookup is needed: the reader walks
// the run's attempts in order and pages each stream forward with
// GetLogEvents (startFromHead=true). A stream's end is the same
// nextForwardToken coming back, never an empty page (CloudWatch returns
// empty pages before the end). The page token Flotilla hands out is
// versioned, base64url JSON of the attempt and the CloudWatch token.
//
// Search filters lines in the reader rather than with FilterLogEvents,
// whose 5 requests per second per account would be shared by every viewer;
// GetLogEvents reads a single stream and is cheaper to page. Tail reads the
// newest lines with one backward GetLogEvents per stream.
package awslogs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Config names where runs' lines are. It must match the executor's.
type Config struct {
	// LogGroup defaults to /flotilla/runs.
	LogGroup string
	// StreamPrefix is the awslogs-stream-prefix (default "flotilla").
	StreamPrefix string
	// ContainerName is the job's container (default "job").
	ContainerName string
	// MaxCalls bounds the GetLogEvents calls one ReadLogs makes while it
	// skips empty pages or filtered lines (default 10).
	MaxCalls int
}

// Defaults of Config.
const (
	DefaultLogGroup      = "/flotilla/runs"
	DefaultStreamPrefix  = "flotilla"
	DefaultContainerName = "job"
	DefaultLimit         = 100
	MaxLimit             = 10000
)

// Reader reads runs' lines from CloudWatch Logs.
type Reader struct {
	client *cloudwatchlogs.Client
	cfg    Config
}

var _ flotilla.LogReader = (*Reader)(nil)

// New returns a Reader with cfg's defaults applied.
// FromConfig builds the CloudWatch Logs client on cfg (at endpoint when
// not empty: an emulator or a fake) and the Reader on it.
func FromConfig(cfg aws.Config, endpoint string, c Config) *Reader {
	client := cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return New(client, c)
}

func New(client *cloudwatchlogs.Client, cfg Config) *Reader {
	if cfg.LogGroup == "" {
		cfg.LogGroup = DefaultLogGroup
	}
	if cfg.StreamPrefix == "" {
		cfg.StreamPrefix = DefaultStreamPrefix
	}
	if cfg.ContainerName == "" {
		cfg.ContainerName = DefaultContainerName
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 10
	}
	return &Reader{client: client, cfg: cfg}
}

// Stream is the awslogs stream of a task.
func (r *Reader) Stream(taskID string) string {
	return r.cfg.StreamPrefix + "/" + r.cfg.ContainerName + "/" + taskID
}

// ReadLogs returns the next page of the run's lines, across its attempts.
// ErrInvalid: a malformed token; ErrThrottled: CloudWatch refused.
func (r *Reader) ReadLogs(ctx context.Context, run flotilla.Run, q flotilla.LogQuery) (flotilla.LogPage, error) {
	attempts := started(run)
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if q.Token == "" && q.Tail > 0 {
		return r.tail(ctx, run, attempts, q)
	}
	pos := cursor{}
	if q.Token != "" {
		c, err := decodeToken(q.Token)
		if err != nil {
			return flotilla.LogPage{}, fmt.Errorf("read logs of run %s: %w", run.ID, err)
		}
		pos = c
	}
	idx := 0
	if pos.Attempt != 0 {
		idx = slices.IndexFunc(attempts, func(a flotilla.Attempt) bool { return a.Attempt == pos.Attempt })
		if idx < 0 {
			return flotilla.LogPage{}, fmt.Errorf("read logs of run %s: token names attempt %d, which has no task: %w", run.ID, pos.Attempt, flotilla.ErrInvalid)
		}
	}
	if len(attempts) == 0 {
		return flotilla.LogPage{End: true, NextToken: q.Token}, nil
	}
	page := flotilla.LogPage{Events: []flotilla.LogEvent{}}
	cw := pos.CloudWatch
	for calls := 0; calls < r.cfg.MaxCalls; calls++ {
		a := attempts[idx]
		in := &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(r.cfg.LogGroup),
			LogStreamName: aws.String(r.Stream(a.TaskID)),
			StartFromHead: aws.Bool(true),
			Limit:         aws.Int32(int32(max(limit-len(page.Events), 1))),
		}
		if cw != "" {
			in.NextToken = aws.String(cw)
		}
		bound(in, q)
		out, err := r.client.GetLogEvents(ctx, in)
		streamEnd := false
		switch {
		case isNotFound(err):
			// The task has not started writing yet, or never did.
			streamEnd = true
		case err != nil:
			return flotilla.LogPage{}, fmt.Errorf("read logs of run %s attempt %d: %w", run.ID, a.Attempt, translate(err))
		default:
			page.Events = appendMatching(page.Events, out.Events, q.Search)
			next := aws.ToString(out.NextForwardToken)
			streamEnd = cw != "" && next == cw
			cw = next
		}
		if streamEnd {
			if idx+1 < len(attempts) {
				idx, cw = idx+1, ""
				continue
			}
			page.End = true
			break
		}
		if len(page.Events) >= limit {
			break
		}
	}
	page.NextToken = encodeToken(cursor{Attempt: attempts[idx].Attempt, CloudWatch: cw})
	return page, nil
}

// tail returns the last q.Tail lines, newest attempts first, and a token
// that follows the newest stream from there.
func (r *Reader) tail(ctx context.Context, run flotilla.Run, attempts []flotilla.Attempt, q flotilla.LogQuery) (flotilla.LogPage, error) {
	page := flotilla.LogPage{Events: []flotilla.LogEvent{}}
	if len(attempts) == 0 {
		return flotilla.LogPage{End: true}, nil
	}
	need := min(q.Tail, MaxLimit)
	last := attempts[len(attempts)-1]
	next := cursor{Attempt: last.Attempt}
	for i := len(attempts) - 1; i >= 0 && need > 0; i-- {
		in := &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(r.cfg.LogGroup),
			LogStreamName: aws.String(r.Stream(attempts[i].TaskID)),
			StartFromHead: aws.Bool(false),
			Limit:         aws.Int32(int32(need)),
		}
		bound(in, q)
		out, err := r.client.GetLogEvents(ctx, in)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return flotilla.LogPage{}, fmt.Errorf("tail logs of run %s attempt %d: %w", run.ID, attempts[i].Attempt, translate(err))
		}
		if i == len(attempts)-1 {
			next.CloudWatch = aws.ToString(out.NextForwardToken)
		}
		lines := appendMatching(nil, out.Events, q.Search)
		if len(lines) > need {
			lines = lines[len(lines)-need:]
		}
		page.Events = append(lines, page.Events...)
		need -= len(lines)
	}
	page.NextToken = encodeToken(next)
	return page, nil
}

// started returns the run's attempts that have a task, in order.
func started(run flotilla.Run) []flotilla.Attempt {
	var out []flotilla.Attempt
	for _, a := range run.Attempts {
		if a.TaskID != "" {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b flotilla.Attempt) int { return a.Attempt - b.Attempt })
	return out
}

func bound(in *cloudwatchlogs.GetLogEventsInput, q flotilla.LogQuery) {
	if !q.Since.IsZero() {
		in.StartTime = aws.Int64(q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		in.EndTime = aws.Int64(q.Until.UnixMilli())
	}
}

func appendMatching(dst []flotilla.LogEvent, events []types.OutputLogEvent, search string) []flotilla.LogEvent {
	for _, e := range events {
		msg := aws.ToString(e.Message)
		if search != "" && !strings.Contains(msg, search) {
			continue
		}
		dst = append(dst, flotilla.LogEvent{Timestamp: time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC(), Message: msg})
	}
	return dst
}

// cursor is where a reader stands: an attempt and its stream's CloudWatch
// forward token ("" = the stream's start).
type cursor struct {
	V          int    `json:"v"`
	Attempt    int    `json:"a"`
	CloudWatch string `json:"t,omitempty"`
}

const tokenVersion = 1

func encodeToken(c cursor) string {
	c.V = tokenVersion
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("malformed log token: %w", flotilla.ErrInvalid)
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.V != tokenVersion || c.Attempt < 1 {
		return cursor{}, fmt.Errorf("malformed log token: %w", flotilla.ErrInvalid)
	}
	return c, nil
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

func translate(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "LimitExceededException":
			return fmt.Errorf("%w: %w", flotilla.ErrThrottled, err)
		case "InvalidParameterException":
			// An expired (24 h) or foreign CloudWatch token.
			return fmt.Errorf("%w: %w", flotilla.ErrInvalid, err)
		}
	}
	return err
}
