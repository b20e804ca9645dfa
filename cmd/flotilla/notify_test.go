package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/notify"
)

// The real server tells a run's end to its definition's webhook (signed
// with the key from FLOTILLA_SECRET_<NAME>) and to the launch's, in the
// background, and writes each outcome, and the e-mail it does not send
// locally, into the run's life story.
func TestServeNotifiesARunsEnd(t *testing.T) {
	const key = "hmac-key-e2e"
	t.Setenv("FLOTILLA_SECRET_HOOK_KEY", key)
	type got struct {
		path, signature, delivery string
		change                    flotilla.RunChange
		ts                        int64
		body                      []byte
	}
	var mu sync.Mutex
	var hits []got
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var c flotilla.RunChange
		json.Unmarshal(body, &c)
		ts, _ := strconv.ParseInt(r.Header.Get(notify.HeaderTimestamp), 10, 64)
		mu.Lock()
		hits = append(hits, got{r.URL.Path, r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderDelivery), c, ts, body})
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hook.Close)

	s := startServer(t, t.TempDir())
	defer s.stop()
	s.mustCLI(t, "definitions", "create", "--alias", "told", "--image", "alpine:3", "--command", "echo hi; exit 4",
		"--cpu", "256", "--memory", "128", "--notify", hook.URL+"/definition,secret=ssm:/flotilla/local/hook-key", "--notify", "ann@example.com")
	if _, errOut, code := s.cli(t, "definitions", "create", "--alias", "bad", "--image", "alpine:3", "--command", "true",
		"--cpu", "256", "--memory", "128", "--notify", "http://hooks.example/x"); code == 0 || !strings.Contains(errOut, "notify[0].webhook") {
		t.Errorf("an http:// webhook off localhost: exit %d, %s", code, errOut)
	}
	id := strings.TrimSpace(strings.Split(s.mustCLI(t, "run", "told", "--notify", hook.URL+"/launch"), "\n")[0])
	r := s.waitStatus(t, id, 30*time.Second, flotilla.StatusFailed)

	var notes []string
	for deadline := time.Now().Add(15 * time.Second); len(notes) < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("life story notes %v, want three", notes)
		}
		var evs struct{ Items []flotilla.RunEvent }
		if err := json.Unmarshal([]byte(s.mustCLI(t, "runs", "events", id, "--json")), &evs); err != nil {
			t.Fatal(err)
		}
		notes = notes[:0]
		for _, e := range evs.Items {
			if e.Source == flotilla.SourceNotifier {
				notes = append(notes, e.Reason)
			}
		}
	}
	want := []string{"notified " + hook.URL + "/definition (HTTP 200, attempt 1)",
		"e-mail to ann@example.com not sent: a local server sends no e-mail (a deployment sends it through SES)",
		"notified " + hook.URL + "/launch (HTTP 200, attempt 1)"}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(notes, "\n"), strings.Join(want, "\n"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 2 {
		t.Fatalf("%d webhook calls, want 2", len(hits))
	}
	for _, h := range hits {
		c := h.change
		if c.RunID != id || c.Status != flotilla.StatusFailed || c.ExitCode == nil || *c.ExitCode != 4 || c.Alias != "told" ||
			!strings.HasSuffix(c.Links["run"], "/runs/"+id) || h.delivery != id+"#1#FAILED" || r.Status != flotilla.StatusFailed {
			t.Errorf("%s got %+v (delivery %s)", h.path, c, h.delivery)
		}
		switch h.path {
		case "/definition":
			if h.signature != notify.Sign([]byte(key), h.ts, h.body) {
				t.Errorf("signature %q does not verify", h.signature)
			}
		case "/launch":
			if h.signature != "" {
				t.Errorf("an unsigned target got a signature")
			}
		}
	}
}

// A definition's task role is kept and shown by the real server, and its
// local run says on its first log line that the role is not used here.
func TestServeTaskRoleIsShownAndAnnounced(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	defer s.stop()
	const role = "arn:aws:iam::123456789012:role/flotilla-job-prod-reports"
	s.mustCLI(t, "definitions", "create", "--alias", "roled", "--image", "alpine:3", "--command", "echo done",
		"--cpu", "256", "--memory", "128", "--task-role-arn", role, "--retry-oom-memory-factor", "2")
	got := s.mustCLI(t, "definitions", "get", "roled")
	for _, want := range []string{role, "retry with 2× the memory"} {
		if !strings.Contains(got, want) {
			t.Errorf("definitions get lacks %q:\n%s", want, got)
		}
	}
	id := strings.TrimSpace(strings.Split(s.mustCLI(t, "run", "roled"), "\n")[0])
	s.waitStatus(t, id, 30*time.Second, flotilla.StatusSucceeded)
	logs := s.mustCLI(t, "logs", id)
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "task_role_arn "+role+" is not used locally") || !strings.Contains(lines[1], "done") {
		t.Errorf("logs %q, want the notice and then the job's line", logs)
	}
	if _, errOut, code := s.cli(t, "definitions", "create", "--alias", "badrole", "--image", "alpine:3", "--command", "true",
		"--cpu", "256", "--memory", "128", "--task-role-arn", "reports"); code == 0 || !strings.Contains(errOut, "task_role_arn") {
		t.Errorf("a task role that is not an ARN: exit %d, %s", code, errOut)
	}
}

// A run launched with --parent is its parent's child: `runs list --parent`
// finds it, and stopping the parent stops it and its own child.
func TestServeCascadeStop(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--max-running", "1")
	defer s.stop()
	s.mustCLI(t, "definitions", "create", "--alias", "long", "--image", "alpine:3", "--command", "sleep 30",
		"--cpu", "256", "--memory", "128")
	first := func(out string) string { return strings.TrimSpace(strings.Split(out, "\n")[0]) }
	parent := first(s.mustCLI(t, "run", "long"))
	s.waitStatus(t, parent, 30*time.Second, flotilla.StatusRunning)
	child := first(s.mustCLI(t, "run", "long", "--parent", parent))
	grandchild := first(s.mustCLI(t, "run", "long", "--parent", child))
	if out := s.mustCLI(t, "runs", "list", "--parent", parent); !strings.Contains(out, child) || strings.Contains(out, grandchild) {
		t.Errorf("runs list --parent %s:\n%s", parent, out)
	}
	if _, errOut, code := s.cli(t, "run", "long", "--parent", "run_01NOSUCHRUN00000000000000"); code == 0 || !strings.Contains(errOut, "parent") {
		t.Errorf("an unknown parent: exit %d, %s", code, errOut)
	}
	s.mustCLI(t, "runs", "stop", parent)
	s.waitStatus(t, parent, 30*time.Second, flotilla.StatusStopped)
	for _, id := range []string{child, grandchild} {
		r := s.waitStatus(t, id, 30*time.Second, flotilla.StatusStopped)
		if !strings.Contains(r.StatusReason, "with its parent") {
			t.Errorf("%s: %s", id, r.StatusReason)
		}
	}
	if r := s.getRun(t, child); r.Parent != parent {
		t.Errorf("child's parent %q, want %s", r.Parent, parent)
	}
}
