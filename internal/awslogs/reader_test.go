package awslogs_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/awslogs"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

const group = "/flotilla/runs"

type bundle struct {
	logs    *awsfake.Logs
	counter *awsclient.Counter
	reader  *awslogs.Reader
}

func setup(t *testing.T, o awsfake.LogsOptions, cfg awslogs.Config) *bundle {
	t.Helper()
	b := &bundle{logs: awsfake.NewLogs(o), counter: awsclient.NewCounter()}
	url := awsfake.Serve(t, b.logs)
	ac, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true, Counter: b.counter})
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogGroup = group
	b.reader = awslogs.New(cloudwatchlogs.NewFromConfig(ac, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = &url }), cfg)
	return b
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func runWith(taskIDs ...string) flotilla.Run {
	r := flotilla.Run{ID: "run_01JDLOGS", Attempt: len(taskIDs)}
	for i, id := range taskIDs {
		r.Attempts = append(r.Attempts, flotilla.Attempt{Attempt: i + 1, TaskID: id})
	}
	return r
}

func (b *bundle) write(taskID string, at time.Time, lines ...string) {
	b.logs.Write(group, "flotilla/job/"+taskID, at, lines...)
}

// readToEnd pages until End, returning every message, the last token and
// the pages read.
func readToEnd(t *testing.T, rd *awslogs.Reader, r flotilla.Run, q flotilla.LogQuery) ([]string, string, int) {
	t.Helper()
	var lines []string
	for pages := 1; pages < 1000; pages++ {
		p, err := rd.ReadLogs(context.Background(), r, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			lines = append(lines, e.Message)
		}
		q.Token = p.NextToken
		if p.End {
			return lines, p.NextToken, pages
		}
	}
	t.Fatal("no end after 1000 pages")
	return nil, "", 0
}

func TestPagesOverEmptyPagesUntilTheSameToken(t *testing.T) {
	t.Parallel()
	// CloudWatch answers empty pages before the data: a reader that stops
	// on an empty page would see nothing here.
	b := setup(t, awsfake.LogsOptions{EmptyPages: 3}, awslogs.Config{MaxCalls: 1})
	b.write("t1", t0, "one", "two", "three", "four", "five")
	r := runWith("t1")
	lines, tok, pages := readToEnd(t, b.reader, r, flotilla.LogQuery{Limit: 2})
	if !slices.Equal(lines, []string{"one", "two", "three", "four", "five"}) {
		t.Fatalf("lines = %q", lines)
	}
	// One call per page (MaxCalls 1): 3 empty + data, for each of the
	// three positions, and the end.
	if got := b.counter.Snapshot()["CloudWatch Logs.GetLogEvents"]; got != pages {
		t.Fatalf("%d GetLogEvents for %d pages", got, pages)
	}
	b.write("t1", t0.Add(time.Second), "six")
	more, _, _ := readToEnd(t, b.reader, r, flotilla.LogQuery{Token: tok})
	if !slices.Equal(more, []string{"six"}) {
		t.Fatalf("after the end, new lines = %q", more)
	}
}

func TestSpansAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.LogsOptions{}, awslogs.Config{})
	// Attempt 1 failed to start and never wrote a stream; attempt 2 was a
	// Spot interruption; attempt 3 is running.
	b.write("t2", t0, "a2-1", "a2-2")
	b.write("t3", t0.Add(time.Minute), "a3-1")
	r := runWith("t1", "t2", "t3")
	lines, tok, _ := readToEnd(t, b.reader, r, flotilla.LogQuery{Limit: 1})
	if !slices.Equal(lines, []string{"a2-1", "a2-2", "a3-1"}) {
		t.Fatalf("lines = %q", lines)
	}
	b.write("t3", t0.Add(2*time.Minute), "a3-2")
	more, _, _ := readToEnd(t, b.reader, r, flotilla.LogQuery{Token: tok})
	if !slices.Equal(more, []string{"a3-2"}) {
		t.Fatalf("more = %q", more)
	}
	// A token read while attempt 4 had no task follows into it once it has.
	r4 := runWith("t1", "t2", "t3", "t4")
	_, tok3, _ := readToEnd(t, b.reader, r, flotilla.LogQuery{})
	b.write("t4", t0.Add(3*time.Minute), "a4-1")
	next, _, _ := readToEnd(t, b.reader, r4, flotilla.LogQuery{Token: tok3})
	if !slices.Equal(next, []string{"a4-1"}) {
		t.Fatalf("into attempt 4 = %q", next)
	}
}

func TestSinceUntilSearchTail(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.LogsOptions{}, awslogs.Config{})
	b.write("t1", t0, "alpha")
	b.write("t1", t0.Add(time.Second), "beta")
	b.write("t2", t0.Add(2*time.Second), "gamma", "alphabet")
	r := runWith("t1", "t2")
	got, _, _ := readToEnd(t, b.reader, r, flotilla.LogQuery{Since: t0.Add(time.Second), Until: t0.Add(2*time.Second + time.Millisecond)})
	if !slices.Equal(got, []string{"beta", "gamma"}) {
		t.Fatalf("since/until = %q", got)
	}
	got, _, _ = readToEnd(t, b.reader, r, flotilla.LogQuery{Search: "alpha"})
	if !slices.Equal(got, []string{"alpha", "alphabet"}) {
		t.Fatalf("search = %q", got)
	}
	for _, tc := range []struct {
		n    int
		want []string
	}{{1, []string{"alphabet"}}, {3, []string{"beta", "gamma", "alphabet"}}, {10, []string{"alpha", "beta", "gamma", "alphabet"}}} {
		p, err := b.reader.ReadLogs(context.Background(), r, flotilla.LogQuery{Tail: tc.n})
		if err != nil {
			t.Fatal(err)
		}
		if msgs := messages(p); !slices.Equal(msgs, tc.want) {
			t.Fatalf("tail %d = %q, want %q", tc.n, msgs, tc.want)
		}
	}
	// The tail's token follows the newest stream from there.
	p, err := b.reader.ReadLogs(context.Background(), r, flotilla.LogQuery{Tail: 2})
	if err != nil {
		t.Fatal(err)
	}
	b.write("t2", t0.Add(time.Hour), "after the tail")
	more, _, _ := readToEnd(t, b.reader, r, flotilla.LogQuery{Token: p.NextToken})
	if !slices.Equal(more, []string{"after the tail"}) {
		t.Fatalf("after the tail: %q", more)
	}
}

func messages(p flotilla.LogPage) []string {
	var out []string
	for _, e := range p.Events {
		out = append(out, e.Message)
	}
	return out
}

func TestMalformedTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.LogsOptions{}, awslogs.Config{})
	b.write("t1", t0, "x")
	r := runWith("t1")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tok := range []string{"not-a-token!", enc("{}"), enc(`{"v":2,"a":1}`), enc(`{"v":1,"a":9}`), enc(`[]`),
		enc(`{"v":1,"a":1,"t":"garbage"}`)} {
		if _, err := b.reader.ReadLogs(context.Background(), r, flotilla.LogQuery{Token: tok}); !errors.Is(err, flotilla.ErrInvalid) {
			t.Errorf("token %q: %v, want ErrInvalid", tok, err)
		}
	}
}

func TestSurvivesFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.LogsOptions{Faults: awsfake.Faults{Rate: 0.1, Seed: 42}, EmptyPages: 1}, awslogs.Config{})
	var want []string
	for i := range 500 {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	b.write("t1", t0, want[:250]...)
	b.write("t2", t0.Add(time.Minute), want[250:]...)
	got, _, _ := readToEnd(t, b.reader, runWith("t1", "t2"), flotilla.LogQuery{Limit: 37})
	if !slices.Equal(got, want) {
		t.Fatalf("read %d lines, want %d", len(got), len(want))
	}
	calls := b.logs.Calls()["GetLogEvents"]
	counted := b.counter.Snapshot()["CloudWatch Logs.GetLogEvents"]
	if calls != counted || calls <= 0 {
		t.Fatalf("fake saw %d GetLogEvents, counter %d", calls, counted)
	}
	t.Logf("500 lines in pages of 37 with 10%% faults: %d GetLogEvents requests", counted)
}

// What reading logs costs: a finished run's lines in one page take two
// GetLogEvents (the lines, then the same token back); each later poll of
// a run that wrote nothing new takes one.
func TestRequestsToReadARun(t *testing.T) {
	t.Parallel()
	b := setup(t, awsfake.LogsOptions{}, awslogs.Config{})
	b.write("t1", t0, "one", "two", "three", "four", "five")
	r := runWith("t1")
	_, tok, pages := readToEnd(t, b.reader, r, flotilla.LogQuery{})
	if got := b.counter.Snapshot()["CloudWatch Logs.GetLogEvents"]; got != 2 || pages != 1 {
		t.Fatalf("reading 5 lines: %d GetLogEvents over %d pages, want 2 in 1", got, pages)
	}
	b.counter.Reset()
	if p, err := b.reader.ReadLogs(context.Background(), r, flotilla.LogQuery{Token: tok}); err != nil || !p.End {
		t.Fatalf("poll = %+v, %v", p, err)
	}
	if got := b.counter.Snapshot()["CloudWatch Logs.GetLogEvents"]; got != 1 {
		t.Fatalf("a poll at the end: %d GetLogEvents, want 1", got)
	}
	b.counter.Reset()
	if _, err := b.reader.ReadLogs(context.Background(), r, flotilla.LogQuery{Tail: 3}); err != nil {
		t.Fatal(err)
	}
	if got := b.counter.Snapshot()["CloudWatch Logs.GetLogEvents"]; got != 1 {
		t.Fatalf("tail: %d GetLogEvents, want 1", got)
	}
}
