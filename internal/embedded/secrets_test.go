package embedded_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// The local executor reads a secret's value from FLOTILLA_SECRET_<NAME>
// when the attempt starts and gives it to the job only; a missing value
// fails the start naming the secret.
func TestExecutorSecrets(t *testing.T) {
	t.Parallel()
	const value = "v4lue-7d2a"
	for _, tc := range []struct {
		name     string
		env      map[string]string
		wantStop string // the stop code; "" for a normal exit 0
	}{
		{"resolved", map[string]string{"FLOTILLA_SECRET_TOKEN": value}, ""},
		{"missing", map[string]string{"FLOTILLA_SECRET_OTHER": value}, flotilla.StopCodeTaskFailedToStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			events := make(chan flotilla.TaskEvent, 100)
			ex := embedded.NewExecutor(dir, false, func(ev flotilla.TaskEvent) { events <- ev }, nil)
			ex.LookupEnv = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			t.Cleanup(ex.Close)
			r := flotilla.Run{ID: "run_01JDSECRET" + strings.ToUpper(tc.name), Alias: "s", Cluster: "default", Attempt: 1,
				Command: `test "$TOKEN" = ` + value + ` && echo has-token`, CPU: 256, Memory: 128,
				Env: map[string]string{}, Secrets: map[string]string{"TOKEN": "ssm:/app/token"}}
			if _, err := ex.Start(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			var last flotilla.TaskEvent
			for last.State != flotilla.TaskStopped {
				select {
				case last = <-events:
					if strings.Contains(fmt.Sprintf("%+v", last), value) {
						t.Fatalf("an event carries the value: %+v", last)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("no stop event")
				}
			}
			out, _ := os.ReadFile(embedded.LogPath(dir, r.ID))
			if tc.wantStop == "" {
				if last.ExitCode == nil || *last.ExitCode != 0 || !strings.Contains(string(out), "has-token") {
					t.Fatalf("the job did not get its secret: %+v, log %q", last, out)
				}
				return
			}
			if last.StopCode != tc.wantStop || !strings.Contains(last.StoppedReason, "secret TOKEN") ||
				!strings.Contains(last.StoppedReason, "FLOTILLA_SECRET_TOKEN") || strings.Contains(string(out), "has-token") {
				t.Fatalf("stop = %s %q, log %q", last.StopCode, last.StoppedReason, out)
			}
		})
	}
}

// A definition's task role cannot be assumed locally: the run goes ahead
// with the server's credentials and its log's first line says so.
func TestExecutorTaskRoleNotice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	events := make(chan flotilla.TaskEvent, 100)
	ex := embedded.NewExecutor(dir, false, func(ev flotilla.TaskEvent) { events <- ev }, nil)
	t.Cleanup(ex.Close)
	const role = "arn:aws:iam::123456789012:role/flotilla-job-reader"
	r := flotilla.Run{ID: "run_01JDTASKROLE", Alias: "s", Cluster: "default", Attempt: 1,
		Command: "echo ran", CPU: 256, Memory: 128, Env: map[string]string{}, TaskRoleARN: role}
	if _, err := ex.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.State == flotilla.TaskStopped {
			if ev.ExitCode == nil || *ev.ExitCode != 0 {
				t.Fatalf("the run did not succeed: %+v", ev)
			}
			break
		}
	}
	out, _ := os.ReadFile(embedded.LogPath(dir, r.ID))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "task_role_arn "+role+" is not used locally") || !strings.HasSuffix(lines[1], "\tran") {
		t.Errorf("log %q, want the notice and then the job's line", out)
	}
}

// A line the job writes to its standard error is read back as such; its
// standard output's lines carry no stream.
func TestLogsTellStderr(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	events := make(chan flotilla.TaskEvent, 100)
	ex := embedded.NewExecutor(dir, false, func(ev flotilla.TaskEvent) { events <- ev }, nil)
	t.Cleanup(ex.Close)
	r := flotilla.Run{ID: "run_01JDSTDERR", Alias: "s", Cluster: "default", Attempt: 1,
		Command: "echo out; sleep 0.05; echo err >&2", CPU: 256, Memory: 128, Env: map[string]string{}}
	if _, err := ex.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.State == flotilla.TaskStopped {
			break
		}
	}
	page, err := embedded.NewLogReader(dir).ReadLogs(context.Background(), flotilla.Run{ID: r.ID, Attempt: 1, Attempts: []flotilla.Attempt{{Attempt: 1}}}, flotilla.LogQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range page.Events {
		got[e.Message] = e.Stream
	}
	if len(got) != 2 || got["out"] != "" || got["err"] != "stderr" {
		t.Errorf("events %+v, want out without a stream and err on stderr", page.Events)
	}
}
