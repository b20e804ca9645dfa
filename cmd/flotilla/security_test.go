package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// TestServeRefusesRemoteAddresses: local mode has no sign-in, so the real
// binary refuses any address that is not loopback, by flag or environment,
// and says how to allow it; it never gets as far as listening.
func TestServeRefusesRemoteAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"all IPv4 interfaces", []string{"--addr", "0.0.0.0:0"}, nil},
		{"all interfaces", []string{"--addr", ":0"}, nil},
		{"all IPv6 interfaces", []string{"--addr", "[::]:0"}, nil},
		{"from the environment", nil, []string{"FLOTILLA_ADDR=0.0.0.0:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, flotillaBin, append([]string{"serve", "--data-dir", t.TempDir(), "--engine", "process"}, tc.args...)...)
			cmd.Env = append(os.Environ(), append([]string{"FLOTILLA_UI_DIR=", "FLOTILLA_ALLOW_REMOTE="}, tc.env...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("serve kept running (it listened): %s", stderr.String())
			}
			if err == nil || !strings.Contains(stderr.String(), "is not a loopback address") || !strings.Contains(stderr.String(), "--allow-remote") {
				t.Fatalf("serve %v: err %v, stderr %q; want a refusal naming --allow-remote", tc.args, err, stderr.String())
			}
		})
	}
}

// TestServeAllowRemoteOnLoopback: --allow-remote is accepted (the test
// binds loopback only: it never opens a port beyond this machine).
func TestServeAllowRemoteOnLoopback(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--allow-remote")
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") {
		t.Fatalf("listening on %s", s.url)
	}
	resp, err := http.Get(s.url + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health = %d", resp.StatusCode)
	}
}

// TestEnvValuesStayOutOfServerLogs: the server's own log lines name runs,
// never their environment. (Env values are echoed in API responses by
// design — they are not secret; secrets need references, which do not
// exist yet.)
func TestEnvValuesStayOutOfServerLogs(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value-4f1d"
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(flotillaBin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--engine", "process", "--sweep-interval", "200ms")
	cmd.Env = append(os.Environ(), "FLOTILLA_UI_DIR=", "FLOTILLA_OWNER=tester")
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var base string
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for deadline := time.Now().Add(30 * time.Second); base == ""; {
		b, _ := os.ReadFile(logPath)
		if m := re.FindSubmatch(b); m != nil {
			base = string(m[1])
		} else if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	post := func(path, body string, out any) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
	}
	post("/v1/definitions", `{"alias":"env","image":"alpine:3","command":"test \"$TOKEN\" = `+secret+`","cpu":256,"memory":128,"env":{"TOKEN":"`+secret+`"}}`, nil)
	var r flotilla.Run
	post("/v1/runs", `{"definition":"env","env":{"OTHER":"`+secret+`-2"}}`, &r)
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get(base + "/v1/runs/" + r.ID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if r.Status.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s", r.ID, r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.Status != flotilla.StatusSucceeded {
		t.Fatalf("the job did not see its env: %s %q", r.Status, r.StatusReason)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), r.ID) {
		t.Fatalf("the server log does not mention the run, so this test proves nothing: %s", b)
	}
	if strings.Contains(string(b), secret) {
		t.Fatalf("an env value reached the server's log:\n%s", b)
	}
}
