package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

var (
	flotillaBin string
	// plainBin is flotilla built without the race detector, for the tests
	// whose volume would take minutes under it (buildPlain).
	plainBin  string
	plainOnce sync.Once
	plainErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flotilla-e2e")
	if err != nil {
		panic(err)
	}
	binDir = dir
	flotillaBin = filepath.Join(dir, "flotilla")
	build := exec.Command("go", "build", "-race", "-o", flotillaBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building flotilla:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a real `flotilla serve` process.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

// buildPlain builds flotilla without the race detector, once.
func buildPlain(t *testing.T) string {
	t.Helper()
	plainOnce.Do(func() {
		plainBin = filepath.Join(binDir, "flotilla-plain")
		build := exec.Command("go", "build", "-o", plainBin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			plainErr = fmt.Errorf("building flotilla: %v: %s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainBin
}

func startServer(t *testing.T, dataDir string, args ...string) *server {
	t.Helper()
	return startServerBin(t, flotillaBin, dataDir, args...)
}

// startServerBin starts `bin serve` (flotillaBin or buildPlain's).
func startServerBin(t *testing.T, bin, dataDir string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--engine", "process", "--sweep-interval", "500ms"}, args...)...)
	cmd.Env = append(os.Environ(), "FLOTILLA_OWNER=tester", "FLOTILLA_UI_DIR=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &bytes.Buffer{}}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			s.logs.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case s.url = <-found:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the server did not start: %s", s.logs)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
}

func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// cli runs the real CLI in-process against the server.
func (s *server) cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return s.cliIn(t, "", args...)
}

// cliIn is cli with stdin.
func (s *server) cliIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		switch k {
		case "FLOTILLA_URL":
			return s.url
		case "HOME":
			return t.TempDir()
		}
		return ""
	}
	code = run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func (s *server) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := s.cli(t, args...)
	if code != 0 {
		t.Fatalf("flotilla %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (s *server) getRun(t *testing.T, id string) flotilla.Run {
	t.Helper()
	var r flotilla.Run
	if err := json.Unmarshal([]byte(s.mustCLI(t, "runs", "get", id, "--json")), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (s *server) waitStatus(t *testing.T, id string, timeout time.Duration, want ...flotilla.RunStatus) flotilla.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.getRun(t, id)
		for _, w := range want {
			if r.Status == w {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s (%s), want %v", id, r.Status, r.StatusReason, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCLIWalkthrough(t *testing.T) {
	t.Parallel()
	coreScenario(t, startServer(t, t.TempDir(), "--max-running", "2"))
}

// coreScenario is the core walkthrough through the real CLI, on a server
// whose default cluster has max_running 2. The hybrid test runs it
// unchanged on the AWS adapters.
func coreScenario(t *testing.T, s *server) {
	t.Helper()
	out := s.mustCLI(t, "definitions", "create", "--alias", "hello", "--image", "alpine:3", "--command", "echo hi $K; echo bye", "--cpu", "256", "--memory", "128", "--env", "K=V", "--tag", "t")
	if !strings.Contains(out, "hello") || !strings.Contains(out, "K=V") {
		t.Fatalf("create printed %q", out)
	}
	defFile := filepath.Join(t.TempDir(), "def.json")
	os.WriteFile(defFile, []byte(`{"alias":"fails","image":"alpine:3","command":"echo oops >&2; exit 3","cpu":256,"memory":128}`), 0o644)
	s.mustCLI(t, "definitions", "create", "-f", defFile)
	if out := s.mustCLI(t, "definitions", "list"); !strings.Contains(out, "hello") || !strings.Contains(out, "fails") {
		t.Fatalf("list: %q", out)
	}
	if out := s.mustCLI(t, "definitions", "update", "hello", "--memory", "256"); !strings.Contains(out, "revision      2") {
		t.Fatalf("update: %q", out)
	}
	if out := s.mustCLI(t, "definitions", "get", "hello", "--revision", "1"); !strings.Contains(out, "128 MiB") {
		t.Fatalf("revision 1: %q", out)
	}

	// --follow streams the logs and exits with the job's own code.
	out, errOut, code := s.cli(t, "run", "hello", "--follow", "--env", "K=override")
	if code != 0 || !strings.Contains(out, "hi override\nbye\n") {
		t.Fatalf("run --follow: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = s.cli(t, "run", "fails", "--follow")
	if code != 3 || !strings.Contains(out, "oops") || !strings.Contains(errOut, "exit code 3") {
		t.Fatalf("failing run --follow: exit %d, %q %q", code, out, errOut)
	}
	failedID := strings.Fields(out)[0]

	// Without --follow: the id, and what to do next.
	out, errOut, code = s.cli(t, "run", "hello")
	if code != 0 || !strings.HasPrefix(out, "run_") || !strings.Contains(errOut, "flotilla logs "+strings.TrimSpace(out)+" -f") {
		t.Fatalf("run: %q %q", out, errOut)
	}
	id := strings.TrimSpace(out)
	s.waitStatus(t, id, 20*time.Second, flotilla.StatusSucceeded)
	if logs := s.mustCLI(t, "logs", id); logs != "hi V\nbye\n" {
		t.Fatalf("logs = %q", logs)
	}
	if logs := s.mustCLI(t, "logs", id, "--search", "bye", "--timestamps"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+ bye\n$`).MatchString(logs) {
		t.Fatalf("logs --search --timestamps = %q", logs)
	}

	// History filters.
	if out := s.mustCLI(t, "runs", "list", "--status", "FAILED"); !strings.Contains(out, failedID) || strings.Contains(out, id) {
		t.Fatalf("runs list --status FAILED: %q", out)
	}
	if out := s.mustCLI(t, "runs", "list", "--definition", "hello", "--status", "SUCCEEDED"); strings.Count(out, "run_") != 2 {
		t.Fatalf("runs list --definition hello: %q", out)
	}
	if out := s.mustCLI(t, "runs", "events", failedID); !strings.Contains(out, "RUNNING → FAILED") {
		t.Fatalf("events: %q", out)
	}

	// A long job, stopped.
	s.mustCLI(t, "definitions", "create", "--alias", "long", "--image", "alpine:3", "--command", "echo started; sleep 300", "--cpu", "256", "--memory", "128")
	long := strings.TrimSpace(s.mustCLI(t, "run", "long"))
	s.waitStatus(t, long, 20*time.Second, flotilla.StatusRunning)
	if out := s.mustCLI(t, "clusters"); !regexp.MustCompile(`default\s+0\s+1\s+2`).MatchString(out) {
		t.Fatalf("clusters: %q", out)
	}
	s.mustCLI(t, "runs", "stop", long)
	r := s.waitStatus(t, long, 30*time.Second, flotilla.StatusStopped)
	if r.StatusReason != "stopped by tester" || r.ReasonCode != flotilla.ReasonStopped {
		t.Fatalf("stopped run: %q %s", r.StatusReason, r.ReasonCode)
	}
	if _, errOut, code := s.cli(t, "runs", "stop", long); code == 0 || !strings.Contains(errOut, "409") {
		t.Fatalf("stopping a finished run: exit %d %q", code, errOut)
	}
	if out := s.mustCLI(t, "costs", "--by", "definition"); !strings.Contains(out, "hello") || !strings.Contains(out, "total") {
		t.Fatalf("costs: %q", out)
	}

	// Deleting a definition keeps its runs.
	s.mustCLI(t, "definitions", "delete", "hello")
	if _, errOut, code := s.cli(t, "definitions", "get", "hello"); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("get after delete: %d %q", code, errOut)
	}
	if r := s.getRun(t, id); r.Status != flotilla.StatusSucceeded || r.Alias != "hello" {
		t.Fatalf("the run of a deleted definition: %+v", r)
	}
	// Bad input is refused with the field named.
	if _, errOut, code := s.cli(t, "definitions", "create", "--alias", "bad", "--image", "alpine", "--command", "true", "--cpu", "1", "--memory", "128"); code == 0 || !strings.Contains(errOut, "cpu: must be between") {
		t.Fatalf("bad cpu: %d %q", code, errOut)
	}
}

func TestAPIOverHTTP(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	get := func(path string) (int, string) {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/v1/health"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("health: %d %s", code, body)
	}
	post := func(path, body string) (int, string) {
		resp, err := http.Post(s.url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/v1/definitions", `{"alias":"curl","image":"alpine:3","command":"echo from curl","cpu":256,"memory":128}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body := post("/v1/runs", `{"definition":"curl","idempotency_key":"once"}`)
	if code != 202 {
		t.Fatalf("launch: %d %s", code, body)
	}
	var r flotilla.Run
	json.Unmarshal([]byte(body), &r)
	if code, again := post("/v1/runs", `{"definition":"curl","idempotency_key":"once"}`); code != 200 || !strings.Contains(again, r.ID) {
		t.Fatalf("same key: %d %s", code, again)
	}
	s.waitStatus(t, r.ID, 20*time.Second, flotilla.StatusSucceeded)
	if code, logs := get("/v1/runs/" + r.ID + "/logs"); code != 200 || !strings.Contains(logs, "from curl") || !strings.Contains(logs, `"complete":true`) {
		t.Fatalf("logs: %d %s", code, logs)
	}
	if code, _ := get("/v1/runs/run_nope"); code != 404 {
		t.Fatalf("unknown run: %d", code)
	}
	if code, body := post("/v1/runs", `{"definition":"curl","cpu":"x"}`); code != 400 || !strings.Contains(body, `"field":"cpu"`) {
		t.Fatalf("bad cpu: %d %s", code, body)
	}
	if code, _ := post("/v1/definitions", `{"alias":"`+strings.Repeat("a", 2<<20)+`"}`); code != 413 {
		t.Fatalf("huge body: %d", code)
	}
}

// TestRestartSafety kills the server with SIGKILL while one run runs and
// two wait: after a restart every run is there, the waiting ones run (once
// each) and the one that was running ends FAILED, saying why.
func TestRestartSafety(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir, "--max-running", "1")
	s.mustCLI(t, "definitions", "create", "--alias", "long", "--image", "alpine:3", "--command", "echo long; sleep 300", "--cpu", "256", "--memory", "128")
	s.mustCLI(t, "definitions", "create", "--alias", "quick", "--image", "alpine:3", "--command", "echo quick $FLOTILLA_RUN_ID", "--cpu", "256", "--memory", "128")
	long := strings.TrimSpace(s.mustCLI(t, "run", "long"))
	s.waitStatus(t, long, 20*time.Second, flotilla.StatusRunning)
	q1 := strings.TrimSpace(s.mustCLI(t, "run", "quick"))
	q2 := strings.TrimSpace(s.mustCLI(t, "run", "quick"))
	s.waitStatus(t, q2, 10*time.Second, flotilla.StatusQueued)
	s.kill()

	s2 := startServer(t, dir, "--max-running", "1")
	r := s2.waitStatus(t, long, 20*time.Second, flotilla.StatusFailed)
	if r.ReasonCode != flotilla.ReasonLost || !strings.Contains(r.StatusReason, "server stopped") {
		t.Fatalf("the run that was running: %s %q", r.ReasonCode, r.StatusReason)
	}
	for _, id := range []string{q1, q2} {
		s2.waitStatus(t, id, 30*time.Second, flotilla.StatusSucceeded)
		if logs := s2.mustCLI(t, "logs", id); logs != "quick "+id+"\n" {
			t.Fatalf("run %s logs %q: started more or less than once", id, logs)
		}
	}
	// No leftover process of the lost run (any process carrying its id).
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		environ, _ := os.ReadFile(p)
		if strings.Contains(string(environ), "FLOTILLA_RUN_ID="+long+"\x00") {
			t.Fatalf("the lost run's process %s still runs", filepath.Dir(p))
		}
	}
}
