package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/client"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

// schedSyncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type schedSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *schedSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *schedSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// schedServe starts `flotilla serve` in this process on a free port, with
// the scheduler on clock, and returns its URL.
func schedServe(t *testing.T, clock schedules.Clock) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &schedSyncBuffer{}
	e := &env{getenv: func(string) string { return "" }, stdout: &schedSyncBuffer{}, stderr: stderr}
	done := make(chan error, 1)
	// Made before the cleanup below is registered, so it is removed after
	// the server has stopped (cleanups run last-registered first).
	dataDir := t.TempDir()
	go func() {
		done <- serve(ctx, e, serveConfig{Addr: "127.0.0.1:0", DataDir: dataDir, MaxRunning: 2, Engine: "process",
			Owner: "ada", SweepInterval: time.Second, QueueTimeout: time.Hour, LogFormat: "text", clock: clock})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	listening := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", stderr.String())
	return ""
}

// schedCLI runs the CLI against the server and returns its exit code and output.
func schedCLI(t *testing.T, base string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if k == "FLOTILLA_URL" {
			return base
		}
		return ""
	}
	code := run(context.Background(), args, getenv, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func schedMust(t *testing.T, base string, args ...string) string {
	t.Helper()
	code, out, errOut := schedCLI(t, base, args...)
	if code != 0 {
		t.Fatalf("flotilla %s = exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestSchedulesEndToEnd: `flotilla serve` with its scheduler's clock
// advanced; a rate(1 minute) schedule made with the CLI launches a run a
// minute with its schedule_id; paused, it launches none.
func TestSchedulesEndToEnd(t *testing.T) {
	clock := schedules.NewFakeClock(time.Date(2026, 11, 26, 12, 0, 30, 0, time.UTC))
	base := schedServe(t, clock)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	schedMust(t, base, "definitions", "create", "--alias", "hello", "--image", "alpine:3", "--command", "echo hi", "--cpu", "256", "--memory", "128")
	if code, _, errOut := schedCLI(t, base, "schedules", "create", "--name", "bad", "--definition", "hello", "--expression", "cron(60 3 * * ? *)"); code == 0 ||
		!strings.Contains(errOut, `expression: cron minutes field "60"`) {
		t.Fatalf("a bad expression: exit %d, %q; want an error naming the field and the token", code, errOut)
	}
	var sch flotilla.Schedule
	out := schedMust(t, base, "schedules", "create", "--name", "every-minute", "--definition", "hello", "--expression", "rate(1 minute)",
		"--env", "MODE=fast", "--json")
	if err := json.Unmarshal([]byte(out), &sch); err != nil || sch.ID == "" || sch.Owner != "ada" {
		t.Fatalf("create --json = %s, %v", out, err)
	}

	c := client.New(base, "")
	runsOf := func() []flotilla.Run {
		t.Helper()
		page, err := c.ListRuns(ctx, url.Values{"schedule_id": {sch.ID}})
		if err != nil {
			t.Fatalf("ListRuns: %v", err)
		}
		return page.Items
	}
	for i := 1; i <= 3; i++ {
		if err := clock.WaitForTimers(ctx, 1); err != nil {
			t.Fatalf("the scheduler is not waiting: %v", err)
		}
		clock.Advance(time.Minute)
		if err := clock.WaitForTimers(ctx, 1); err != nil {
			t.Fatalf("the scheduler did not go back to sleep: %v", err)
		}
		got := runsOf()
		if len(got) != i {
			t.Fatalf("after %d minutes: %d runs, want %d", i, len(got), i)
		}
		for _, r := range got {
			if r.ScheduleID != sch.ID || r.Owner != "ada" || r.Env["MODE"] != "fast" {
				t.Fatalf("run %s: schedule %q owner %q env %v", r.ID, r.ScheduleID, r.Owner, r.Env)
			}
		}
	}

	if out := schedMust(t, base, "schedules", "pause", sch.ID); !strings.Contains(out, "paused") {
		t.Fatalf("pause printed %q", out)
	}
	if err := clock.WaitForTimers(ctx, 0); err != nil {
		t.Fatalf("a paused schedule keeps the scheduler's timer: %v", err)
	}
	for range 5 {
		clock.Advance(time.Minute)
	}
	time.Sleep(100 * time.Millisecond) // a wrong fire would have happened by now
	if got := runsOf(); len(got) != 3 {
		t.Fatalf("paused, the schedule made runs: %d, want 3", len(got))
	}
	list := schedMust(t, base, "schedules", "list")
	if !strings.HasPrefix(list, "SCHEDULE") || !strings.Contains(list, "every-minute") || !strings.Contains(list, "paused") {
		t.Fatalf("list =\n%s", list)
	}
	if out := schedMust(t, base, "schedules", "resume", sch.ID); !strings.Contains(out, "enabled") || !strings.Contains(out, "2026-11-26T12:09:00Z") {
		t.Fatalf("resume printed\n%s\nwant enabled and next fire 12:09", out)
	}
	if err := clock.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := clock.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := runsOf(); len(got) != 4 {
		t.Fatalf("resumed: %d runs, want 4 (no catch-up of the paused minutes)", len(got))
	}
	if out := schedMust(t, base, "schedules", "update", sch.ID, "--expression", "cron(0 3 * * ? *)", "--timezone", "Europe/Paris"); !strings.Contains(out, "2026-11-27T02:00:00Z") {
		t.Fatalf("update printed\n%s\nwant next fire 03:00 Paris = 02:00Z", out)
	}
	schedMust(t, base, "schedules", "delete", sch.ID)
	if code, _, errOut := schedCLI(t, base, "schedules", "get", sch.ID); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("get after delete: exit %d %q", code, errOut)
	}
}
