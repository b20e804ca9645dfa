package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestCLILogsPrintsEveryLine: `flotilla logs RUN` follows next_token to the
// end of a 4,500-line log, and --tail N gives the last N for any N, below
// and above what the API tails at once.
func TestCLILogsPrintsEveryLine(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.mustCLI(t, "definitions", "create", "--alias", "many", "--image", "alpine:3", "--command", "seq 1 12500", "--cpu", "256", "--memory", "128")
	id := strings.TrimSpace(s.mustCLI(t, "run", "many"))
	s.waitStatus(t, id, 60*time.Second, flotilla.StatusSucceeded)
	seq := func(from, to int) string {
		var b strings.Builder
		for i := from; i <= to; i++ {
			fmt.Fprintln(&b, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		args     []string
		from, to int
	}{
		{nil, 1, 12500},
		{[]string{"--tail", "10"}, 12491, 12500},
		{[]string{"--tail", "5000"}, 7501, 12500},
		{[]string{"--tail", "11000"}, 1501, 12500},
		{[]string{"--tail", "20000"}, 1, 12500},
		{[]string{"-f", "--tail", "11000"}, 1501, 12500},
		{[]string{"--search", "99"}, 0, 0},
	} {
		out := s.mustCLI(t, append([]string{"logs", id}, tc.args...)...)
		want := seq(tc.from, tc.to)
		if tc.from == 0 {
			want = ""
			for i := 1; i <= 12500; i++ {
				if strings.Contains(fmt.Sprint(i), "99") {
					want += fmt.Sprintln(i)
				}
			}
		}
		if out != want {
			t.Errorf("flotilla logs %v: %d lines, want %d (first %q)", tc.args, strings.Count(out, "\n"), strings.Count(want, "\n"), firstLine(out))
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestStalledBodiesAreClosed: connections that send headers and then stall
// their body are closed after --read-timeout, and the server answers
// others meanwhile.
func TestStalledBodiesAreClosed(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--read-timeout", "1s")
	addr := strings.TrimPrefix(s.url, "http://")
	const n = 20
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/definitions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"alias\":", addr)
		conns = append(conns, c)
	}
	resp, err := http.Get(s.url + "/v1/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health while stalled: %v %v", resp, err)
	}
	resp.Body.Close()
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err := io.ReadAll(c) // returns once the server closes the connection
		if err == nil {
			closed++
		}
	}
	if closed != n {
		t.Fatalf("%d of %d stalled connections were closed by the server", closed, n)
	}
}

// TestServeTightensAnOldDataDir: a data dir from an earlier version (0755,
// a 0644 database) is private after the real server starts on it.
func TestServeTightensAnOldDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "old")
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "logs", "run_x.log"), []byte("2026-01-01T00:00:00Z\tsecret output\n"), 0o644)
	s := startServer(t, dir)
	s.stop()
	for name, want := range map[string]os.FileMode{"": 0o700, "logs": 0o700, "logs/run_x.log": 0o600, "flotilla.db": 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", name, st.Mode().Perm(), err, want)
		}
	}
}

// TestServeRefusesForeignPages: the real server refuses a text/plain POST,
// a foreign Origin and a rebinding Host, and the refused requests create
// nothing; the CLI still works.
func TestServeRefusesForeignPages(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	body := `{"alias":"pwn","image":"alpine:3","command":"id","cpu":256,"memory":128}`
	for _, tc := range []struct {
		name   string
		header map[string]string
		host   string
		want   int
	}{
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, "", 415},
		{"foreign origin", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, "", 403},
		{"rebinding host", map[string]string{"Content-Type": "application/json"}, "evil.example", 421},
	} {
		req, _ := http.NewRequest("POST", s.url+"/v1/definitions", strings.NewReader(body))
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if out, _, code := s.cli(t, "definitions", "get", "pwn"); code == 0 {
		t.Fatalf("a refused request created the definition: %s", out)
	}
	s.mustCLI(t, "definitions", "create", "--alias", "ok", "--image", "alpine:3", "--command", "true", "--cpu", "256", "--memory", "128")
}
