package flotillatest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// ExecutorHarness is an executor under test with the task events its engine
// reports, and the log reader that reads what its tasks wrote.
//
// The suites' jobs use a tiny command vocabulary every engine must run (the
// local executor runs it with sh; the ECS fake interprets it): `echo TEXT`,
// `sleep SECONDS` and `exit CODE`, joined by "; ".
type ExecutorHarness struct {
	Executor flotilla.Executor
	Logs     flotilla.LogReader
	// Events receives every task event the engine reports.
	Events <-chan flotilla.TaskEvent
}

// Watcher collects a harness's events so tests can wait for one.
type Watcher struct {
	mu     sync.Mutex
	events []flotilla.TaskEvent
	more   chan struct{}
}

// Watch starts collecting events from ch.
func Watch(ch <-chan flotilla.TaskEvent) *Watcher {
	w := &Watcher{more: make(chan struct{}, 1)}
	go func() {
		for ev := range ch {
			w.mu.Lock()
			w.events = append(w.events, ev)
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

// Wait returns the first event of the run attempt in the given state.
func (w *Watcher) Wait(t *testing.T, runID string, attempt int, state flotilla.TaskState, timeout time.Duration) flotilla.TaskEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for _, ev := range w.events {
			if ev.RunID == runID && (ev.Attempt == 0 || ev.Attempt == attempt) && ev.State == state {
				w.mu.Unlock()
				return ev
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s event for run %s attempt %d within %v; saw %+v", state, runID, attempt, timeout, w.All(runID))
		}
	}
}

// All returns the run's events so far.
func (w *Watcher) All(runID string) []flotilla.TaskEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []flotilla.TaskEvent
	for _, ev := range w.events {
		if ev.RunID == runID {
			out = append(out, ev)
		}
	}
	return out
}

func jobRun(command string, offset time.Duration) flotilla.Run {
	r := NewRun("default", "alice", offset)
	r.QueuedAt = time.Now().UTC()
	r.Command = command
	r.Env = map[string]string{"GREETING": "hello"}
	return r
}

// TestExecutor runs the Executor conformance suite.
func TestExecutor(t *testing.T, newHarness func(t *testing.T) ExecutorHarness) {
	t.Run("ExitCodes", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		w := Watch(h.Events)
		for _, c := range []struct {
			cmd  string
			code int
		}{{"echo ok; exit 0", 0}, {"echo bad; exit 3", 3}} {
			r := jobRun(c.cmd, 0)
			task, err := h.Executor.Start(context.Background(), r)
			if err != nil || task.ID == "" {
				t.Fatalf("Start(%q) = %+v, %v", c.cmd, task, err)
			}
			ev := w.Wait(t, r.ID, 1, flotilla.TaskStopped, 20*time.Second)
			if ev.TaskID != task.ID || ev.ExitCode == nil || *ev.ExitCode != c.code {
				t.Fatalf("%q ended with %+v, want task %s exit %d", c.cmd, ev, task.ID, c.code)
			}
			out := flotilla.DecideOutcome(r, ev)
			if (c.code == 0) != (out.To == flotilla.StatusSucceeded) {
				t.Fatalf("%q: outcome %+v", c.cmd, out)
			}
			desc, err := h.Executor.Describe(context.Background(), r)
			if err != nil || desc.State != flotilla.TaskStopped || desc.ExitCode == nil || *desc.ExitCode != c.code {
				t.Fatalf("Describe after the end = %+v, %v", desc, err)
			}
		}
	})
	t.Run("StartIsIdempotent", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		w := Watch(h.Events)
		r := jobRun("echo once; exit 0", 0)
		var taskIDs []string
		for range 3 {
			task, err := h.Executor.Start(context.Background(), r)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			taskIDs = append(taskIDs, task.ID)
		}
		w.Wait(t, r.ID, 1, flotilla.TaskStopped, 20*time.Second)
		if taskIDs[0] != taskIDs[1] || taskIDs[1] != taskIDs[2] {
			t.Fatalf("three Starts of one attempt gave tasks %v", taskIDs)
		}
		time.Sleep(300 * time.Millisecond)
		stops := 0
		for _, ev := range w.All(r.ID) {
			if ev.State == flotilla.TaskStopped {
				stops++
			}
		}
		if stops != 1 {
			t.Fatalf("one attempt ended %d times: %+v", stops, w.All(r.ID))
		}
		// A new attempt is a new task.
		r.Attempt = 2
		task2, err := h.Executor.Start(context.Background(), r)
		if err != nil || task2.ID == taskIDs[0] {
			t.Fatalf("attempt 2 = %+v, %v; want a new task", task2, err)
		}
		w.Wait(t, r.ID, 2, flotilla.TaskStopped, 20*time.Second)
	})
	t.Run("Stop", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		w := Watch(h.Events)
		r := jobRun("echo started; sleep 60; echo never", 0)
		if _, err := h.Executor.Start(context.Background(), r); err != nil {
			t.Fatalf("Start: %v", err)
		}
		w.Wait(t, r.ID, 1, flotilla.TaskRunning, 20*time.Second)
		if err := h.Executor.Stop(context.Background(), r); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		ev := w.Wait(t, r.ID, 1, flotilla.TaskStopped, 30*time.Second)
		if ev.StopCode != flotilla.StopCodeUserInitiated {
			t.Fatalf("stopped task = %+v, want stop code %s", ev, flotilla.StopCodeUserInitiated)
		}
	})
	t.Run("DescribeUnknown", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		_, err := h.Executor.Describe(context.Background(), jobRun("exit 0", 0))
		if !errors.Is(err, flotilla.ErrNotFound) {
			t.Fatalf("Describe of a never-started run = %v, want ErrNotFound", err)
		}
	})
}

// TestLogReader runs the LogReader conformance suite: the harness's
// executor produces the lines.
func TestLogReader(t *testing.T, newHarness func(t *testing.T) ExecutorHarness) {
	run := func(t *testing.T, h ExecutorHarness, w *Watcher, cmd string) flotilla.Run {
		t.Helper()
		r := jobRun(cmd, 0)
		task, err := h.Executor.Start(context.Background(), r)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		r.Attempts[0].TaskID = task.ID
		return r
	}
	t.Run("PagesToTheEnd", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		w := Watch(h.Events)
		r := run(t, h, w, "echo one; echo two; echo three; echo four; echo five; exit 0")
		w.Wait(t, r.ID, 1, flotilla.TaskStopped, 20*time.Second)
		lines, tok := readAll(t, h.Logs, r, flotilla.LogQuery{Limit: 2}, 20*time.Second, 5)
		if !slices.Equal(lines, []string{"one", "two", "three", "four", "five"}) {
			t.Fatalf("lines = %q", lines)
		}
		again, err := h.Logs.ReadLogs(context.Background(), r, flotilla.LogQuery{Token: tok})
		if err != nil || len(again.Events) != 0 || !again.End {
			t.Fatalf("reading past the end = %+v, %v", again, err)
		}
	})
	t.Run("FollowsARunningJob", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		w := Watch(h.Events)
		r := run(t, h, w, "echo before; sleep 2; echo after; exit 0")
		w.Wait(t, r.ID, 1, flotilla.TaskRunning, 20*time.Second)
		lines, tok := readAll(t, h.Logs, r, flotilla.LogQuery{}, 20*time.Second, 1)
		if !slices.Equal(lines, []string{"before"}) {
			t.Fatalf("while running: %q", lines)
		}
		w.Wait(t, r.ID, 1, flotilla.TaskStopped, 20*time.Second)
		rest, _ := readAll(t, h.Logs, r, flotilla.LogQuery{Token: tok}, 20*time.Second, 1)
		if !slices.Equal(rest, []string{"after"}) {
			t.Fatalf("after the pause: %q", rest)
		}
	})
	t.Run("StoppedMidOutputKeepsLines", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		w := Watch(h.Events)
		r := run(t, h, w, "echo a; echo b; echo c; sleep 60")
		w.Wait(t, r.ID, 1, flotilla.TaskRunning, 20*time.Second)
		readAll(t, h.Logs, r, flotilla.LogQuery{}, 20*time.Second, 3)
		if err := h.Executor.Stop(context.Background(), r); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		w.Wait(t, r.ID, 1, flotilla.TaskStopped, 30*time.Second)
		lines, _ := readAll(t, h.Logs, r, flotilla.LogQuery{}, 20*time.Second, 3)
		if !slices.Equal(lines, []string{"a", "b", "c"}) {
			t.Fatalf("after the stop: %q", lines)
		}
	})
	t.Run("SearchTailAndBadToken", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		w := Watch(h.Events)
		r := run(t, h, w, "echo alpha; echo beta; echo gamma; echo alphabet; exit 0")
		w.Wait(t, r.ID, 1, flotilla.TaskStopped, 20*time.Second)
		found, _ := readAll(t, h.Logs, r, flotilla.LogQuery{Search: "alpha"}, 20*time.Second, 2)
		if !slices.Equal(found, []string{"alpha", "alphabet"}) {
			t.Fatalf("search alpha = %q", found)
		}
		p, err := h.Logs.ReadLogs(context.Background(), r, flotilla.LogQuery{Tail: 2})
		if err != nil || len(p.Events) != 2 || p.Events[0].Message != "gamma" || p.Events[1].Message != "alphabet" {
			t.Fatalf("tail 2 = %+v, %v", p, err)
		}
		if _, err := h.Logs.ReadLogs(context.Background(), r, flotilla.LogQuery{Token: "not-a-token!"}); !errors.Is(err, flotilla.ErrInvalid) {
			t.Fatalf("a malformed token = %v, want ErrInvalid", err)
		}
	})
}

// readAll pages until at least want lines arrived and the reader reports
// the end, returning the lines and the last token.
func readAll(t *testing.T, l flotilla.LogReader, r flotilla.Run, q flotilla.LogQuery, timeout time.Duration, want int) ([]string, string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lines []string
	for {
		p, err := l.ReadLogs(context.Background(), r, q)
		if err != nil {
			t.Fatalf("ReadLogs(%+v): %v", q, err)
		}
		for _, ev := range p.Events {
			if ev.Timestamp.IsZero() {
				t.Fatalf("line %q has no timestamp", ev.Message)
			}
			lines = append(lines, strings.TrimRight(ev.Message, "\r\n"))
		}
		q.Token = p.NextToken
		if p.End && len(lines) >= want {
			return lines, q.Token
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %q after %v", lines, timeout)
		}
		if p.End {
			time.Sleep(50 * time.Millisecond)
		}
	}
}
