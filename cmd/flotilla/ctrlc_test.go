package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// terminal runs the real CLI binary in a pseudo-terminal, so Ctrl-C is the
// terminal's interrupt character, as a person would press it.
type terminal struct {
	cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func startTerminal(t *testing.T, s *server, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(flotillaBin, args...)
	cmd.Env = append(os.Environ(), "FLOTILLA_URL="+s.url, "HOME="+t.TempDir())
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	term := &terminal{cmd: cmd, pty: f, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				close(term.done)
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); f.Close() })
	return term
}

func (term *terminal) screen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

func (term *terminal) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(term.screen(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q:\n%s", text, term.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (term *terminal) ctrlC(t *testing.T) {
	t.Helper()
	if _, err := term.pty.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
}

func (term *terminal) exitCode(t *testing.T) int {
	t.Helper()
	err := term.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestCtrlCThroughATerminal(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.mustCLI(t, "definitions", "create", "--alias", "long", "--image", "alpine:3", "--command", "echo working; sleep 120", "--cpu", "256", "--memory", "128")

	// One Ctrl-C detaches: the run goes on, and the CLI says how to come back.
	term := startTerminal(t, s, "run", "long", "--follow")
	term.waitFor(t, "working")
	term.ctrlC(t)
	term.waitFor(t, "Press Ctrl-C again within 2 seconds")
	if code := term.exitCode(t); code != ExitDetached {
		t.Fatalf("exit code after one Ctrl-C = %d, want %d\n%s", code, ExitDetached, term.screen())
	}
	screen := term.screen()
	id := strings.Fields(screen)[0]
	if !strings.Contains(screen, "re-attach: flotilla logs "+id+" -f") || !strings.Contains(screen, "stop it:   flotilla runs stop "+id) {
		t.Fatalf("detach message:\n%s", screen)
	}
	if r := s.getRun(t, id); r.Status != flotilla.StatusRunning {
		t.Fatalf("after detaching the run is %s", r.Status)
	}

	// Re-attach, then two Ctrl-C within 2 s: it says so, and stops the run.
	term = startTerminal(t, s, "logs", id, "-f")
	term.waitFor(t, "working")
	term.ctrlC(t)
	term.waitFor(t, "Press Ctrl-C again")
	term.ctrlC(t)
	term.waitFor(t, "Stopping run "+id)
	if code := term.exitCode(t); code != ExitStopped {
		t.Fatalf("exit code after two Ctrl-C = %d, want %d\n%s", code, ExitStopped, term.screen())
	}
	if r := s.waitStatus(t, id, 30*time.Second, flotilla.StatusStopped); r.ReasonCode != flotilla.ReasonStopped {
		t.Fatalf("stopped run: %+v", r)
	}
}

// TestReservedExitCodes: --follow exits with the job's own code when it ran
// to its end, else with the reserved code of the reason.
func TestReservedExitCodes(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.mustCLI(t, "definitions", "create", "--alias", "seven", "--image", "alpine:3", "--command", "exit 7", "--cpu", "256", "--memory", "128")
	s.mustCLI(t, "definitions", "create", "--alias", "slow", "--image", "alpine:3", "--command", "sleep 60", "--cpu", "256", "--memory", "128", "--timeout", "1")
	if _, _, code := s.cli(t, "run", "seven", "--follow"); code != 7 {
		t.Fatalf("exit 7 job: CLI exit %d", code)
	}
	_, errOut, code := s.cli(t, "run", "slow", "--follow")
	if code != ExitRunTimeout || !strings.Contains(errOut, "timed out after 1s") {
		t.Fatalf("timed-out job: CLI exit %d, %q", code, errOut)
	}
}
