package main

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestSecretsReachTheJobOnly: a definition references a secret; the real
// server (local mode) reads its value from FLOTILLA_SECRET_TOKEN and gives it
// to the job, which checks it without printing it. The value then appears
// in no API response, not the server log and no stored file; a secret with
// no value fails the attempt to start, naming the secret.
func TestSecretsReachTheJobOnly(t *testing.T) {
	t.Parallel()
	const secret = "tok-9c1e77-shh"
	const secretSHA = "dc0c3866b54e0771846d05480d6f412a011d6af3aceed6335c0959f8d4684884" // sha256 of secret
	dataDir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(flotillaBin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--engine", "process", "--sweep-interval", "200ms")
	cmd.Env = append(os.Environ(), "FLOTILLA_UI_DIR=", "FLOTILLA_OWNER=tester", "FLOTILLA_SECRET_TOKEN="+secret)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &bytes.Buffer{}}
	t.Cleanup(s.stop)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for deadline := time.Now().Add(30 * time.Second); s.url == ""; {
		b, _ := os.ReadFile(logPath)
		if m := re.FindSubmatch(b); m != nil {
			s.url = string(m[1])
		} else if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	s.mustCLI(t, "definitions", "create", "--alias", "secretive", "--image", "alpine:3", "--cpu", "256", "--memory", "128",
		"--command", `test "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = `+secretSHA+` && echo has-token`,
		"--secret", "TOKEN=ssm:/flotilla/token", "--env", "PLAIN=1")
	if out := s.mustCLI(t, "definitions", "get", "secretive"); !strings.Contains(out, "TOKEN=ssm:/flotilla/token") {
		t.Fatalf("definitions get does not show the reference:\n%s", out)
	}
	if _, errOut, code := s.cli(t, "definitions", "create", "--alias", "clash", "--image", "alpine:3", "--cpu", "256", "--memory", "128",
		"--command", "true", "--secret", "PLAIN=ssm:/x", "--env", "PLAIN=1"); code == 0 || !strings.Contains(errOut, "secrets.PLAIN") {
		t.Fatalf("a name in both env and secrets: exit %d, %s", code, errOut)
	}
	id := strings.TrimSpace(s.mustCLI(t, "run", "secretive"))
	r := s.waitStatus(t, id, 60*time.Second, flotilla.StatusSucceeded, flotilla.StatusFailed)
	if r.Status != flotilla.StatusSucceeded {
		t.Fatalf("the job did not get its secret: %s %q", r.Status, r.StatusReason)
	}
	if r.Secrets["TOKEN"] != "ssm:/flotilla/token" {
		t.Fatalf("run secrets = %v, want the reference", r.Secrets)
	}
	if out := s.mustCLI(t, "runs", "get", id); !strings.Contains(out, "TOKEN=ssm:/flotilla/token") {
		t.Fatalf("runs get does not show the reference:\n%s", out)
	}

	// A secret the server has no value for fails the start, by name.
	s.mustCLI(t, "definitions", "create", "--alias", "unset", "--image", "alpine:3", "--cpu", "256", "--memory", "128",
		"--command", "echo started", "--secret", "MISSING_KEY=secretsmanager:prod/missing", "--max-attempts", "1")
	missing := strings.TrimSpace(s.mustCLI(t, "run", "unset"))
	m := s.waitStatus(t, missing, 60*time.Second, flotilla.StatusFailed, flotilla.StatusSucceeded)
	// With one attempt allowed, the run ends as retries exhausted after
	// its attempt could not start.
	if m.Status != flotilla.StatusFailed || m.ReasonCode != flotilla.ReasonRetriesExhausted ||
		!strings.Contains(m.StatusReason, "could not start") || !strings.Contains(m.StatusReason, "secret MISSING_KEY") {
		t.Fatalf("run without its secret: %s %s %q", m.Status, m.ReasonCode, m.StatusReason)
	}

	var seen strings.Builder
	for _, path := range []string{
		"/v1/runs/" + id, "/v1/runs/" + id + "/events", "/v1/runs/" + id + "/logs", "/v1/runs", "/v1/runs?definition=secretive",
		"/v1/definitions/secretive", "/v1/definitions", "/v1/runs/" + missing, "/v1/runs/" + missing + "/events",
	} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if strings.Contains(string(body), secret) {
			t.Errorf("GET %s shows the secret's value: %s", path, body)
		}
		seen.Write(body)
	}
	if !strings.Contains(seen.String(), "has-token") || !strings.Contains(seen.String(), "ssm:/flotilla/token") {
		t.Fatalf("the responses lack the job's output or the reference, so this test proves nothing: %s", seen.String())
	}

	s.stop()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), id) {
		t.Fatalf("the server log does not mention the run, so this test proves nothing: %s", b)
	}
	if strings.Contains(string(b), secret) {
		t.Errorf("the secret's value reached the server log:\n%s", b)
	}
	// The stored rows (SQLite and its WAL), the log files, the work dirs.
	files := 0
	filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret's value", path)
		}
		return nil
	})
	if files == 0 {
		t.Fatal("no stored files to check")
	}
}
