package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestCLIArrays drives arrays through the real CLI against a real server:
// --array with --follow, the summary in runs get, the children in runs
// list --parent, retry-failed, items from stdin, bad items, and stop.
func TestCLIArrays(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--max-running", "2")
	s.mustCLI(t, "definitions", "create", "--alias", "odd", "--image", "alpine:3", "--cpu", "256", "--memory", "128",
		"--command", `echo "i=$FLOTILLA_ARRAY_INDEX"; test "$FLOTILLA_ARRAY_INDEX" != 1 && test "$FLOTILLA_ARRAY_INDEX" != 3`)
	s.mustCLI(t, "definitions", "create", "--alias", "echoer", "--image", "alpine:3", "--cpu", "256", "--memory", "128",
		"--command", `echo "$FLOTILLA_ARRAY_ITEM"`)

	// --follow waits for the children and exits 1 naming the failed indexes.
	out, errOut, code := s.cli(t, "run", "odd", "--array", "5", "--follow")
	if code != 1 || !strings.HasPrefix(out, "run_") || !strings.Contains(errOut, "3 SUCCEEDED, 2 FAILED") || !strings.Contains(errOut, "retry-failed") {
		t.Fatalf("run --array 5 --follow: exit %d, %q %q", code, out, errOut)
	}
	arr := strings.TrimSpace(out)
	got := s.mustCLI(t, "runs", "get", arr)
	for _, want := range []string{`status\s+FAILED`, `reason code\s+children_failed`, `array\s+5 children, 5 made`,
		`children\s+3 SUCCEEDED, 2 FAILED \(5 of 5 ended\)`, `failed indexes\s+1, 3\n`} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("runs get %s lacks %s:\n%s", arr, want, got)
		}
	}
	// Children newest first: an array's in index order, highest first.
	list := s.mustCLI(t, "runs", "list", "--parent", arr)
	if idx := regexp.MustCompile(`odd\[(\d)\]`).FindAllStringSubmatch(list, -1); len(idx) != 5 || idx[0][1] != "4" || idx[4][1] != "0" {
		t.Fatalf("runs list --parent: %q", list)
	}
	failed := s.mustCLI(t, "runs", "list", "--parent", arr, "--status", "FAILED")
	if !strings.Contains(failed, "odd[1]") || !strings.Contains(failed, "odd[3]") || strings.Count(failed, "run_") != 2 {
		t.Fatalf("runs list --parent --status FAILED: %q", failed)
	}
	failedChild := strings.Fields(strings.Split(failed, "\n")[1])[0]
	if got := s.mustCLI(t, "runs", "get", failedChild); !regexp.MustCompile(`array index\s+[13]\n`).MatchString(got) || !strings.Contains(got, arr) {
		t.Errorf("a child's runs get: %s", got)
	}

	// retry-failed: a new array of the two; asking again gives the same one.
	out, errOut, code = s.cli(t, "runs", "retry-failed", arr)
	if code != 0 || !strings.Contains(errOut, "runs 2 failed or stopped children of "+arr) {
		t.Fatalf("retry-failed: %d %q %q", code, out, errOut)
	}
	retry := strings.TrimSpace(out)
	out, errOut, _ = s.cli(t, "runs", "retry-failed", arr)
	if strings.TrimSpace(out) != retry || !strings.Contains(errOut, "earlier call") {
		t.Fatalf("retry-failed again: %q %q (first %s)", out, errOut, retry)
	}
	s.waitStatus(t, retry, 30*time.Second, flotilla.StatusFailed)
	if got := s.mustCLI(t, "runs", "get", retry); !regexp.MustCompile(`retry of\s+`+arr).MatchString(got) || !regexp.MustCompile(`failed indexes\s+1, 3\n`).MatchString(got) {
		t.Errorf("the retry's runs get:\n%s", got)
	}
	if _, errOut, code := s.cli(t, "runs", "retry-failed", failedChild); code == 0 || !strings.Contains(errOut, "409") {
		t.Errorf("retry-failed of a child (not an array): %d %q", code, errOut)
	}

	// Items as JSON Lines on stdin: each child gets its own.
	out, errOut, code = s.cliIn(t, "{\"day\":\"mon\"}\n{\"day\":\"tue\"}\n\n{\"day\":\"wed\"}\n", "run", "echoer", "--array-items", "-")
	if code != 0 || !strings.Contains(errOut, "runs list --parent") {
		t.Fatalf("run --array-items -: %d %q %q", code, out, errOut)
	}
	items := strings.TrimSpace(out)
	s.waitStatus(t, items, 30*time.Second, flotilla.StatusSucceeded)
	list = s.mustCLI(t, "runs", "list", "--parent", items)
	second := ""
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "echoer[1]") {
			second = strings.Fields(line)[0]
		}
	}
	if got := s.mustCLI(t, "runs", "get", second); !regexp.MustCompile(`array item\s+\{"day":\s*"tue"\}`).MatchString(got) {
		t.Errorf("child 1's item:\n%s", got)
	}
	if logs := s.mustCLI(t, "logs", second); !regexp.MustCompile(`^\{"day":\s*"tue"\}\n$`).MatchString(logs) {
		t.Errorf("child 1 printed %q", logs)
	}
	// A JSON array in a file works too.
	file := filepath.Join(t.TempDir(), "items.json")
	os.WriteFile(file, []byte(`[{"n":1},{"n":2}]`), 0o644)
	if id := strings.TrimSpace(s.mustCLI(t, "run", "echoer", "--array-items", file)); s.waitStatus(t, id, 30*time.Second, flotilla.StatusSucceeded).Array.Size != 2 {
		t.Errorf("items from a file: not 2 children")
	}

	// Mistakes are named before anything is sent.
	os.WriteFile(file, []byte(`[{"n":1}, 2]`), 0o644)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"run", "echoer", "--array-items", file}, "item 1 is 2, not a JSON object"},
		{"{\"a\":1}\n\"nope\"\n", []string{"run", "echoer", "--array-items", "-"}, "line 2 (item 1) is \"nope\", not a JSON object"},
		{"{\"a\":1}\n{oops\n", []string{"run", "echoer", "--array-items", "-"}, "line 2"},
		{"", []string{"run", "echoer", "--array", "0"}, "want 1 to 10000 children"},
		{"", []string{"run", "echoer", "--array", "2", "--array-items", file}, "give one"},
		{"", []string{"run", "echoer", "--after-each", arr}, "use it with --array"},
	} {
		if _, errOut, code := s.cliIn(t, c.stdin, c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q, want %q", c.args, code, errOut, c.want)
		}
	}
	// The API's own checks come back naming the field.
	if _, errOut, code := s.cli(t, "run", "echoer", "--array", "3", "--after-each", arr); code == 0 || !strings.Contains(errOut, "after_each") {
		t.Errorf("--after-each of an array of another size: %d %q", code, errOut)
	}

	// Stopping an array stops its children.
	s.mustCLI(t, "definitions", "create", "--alias", "long", "--image", "alpine:3", "--cpu", "256", "--memory", "128", "--command", "sleep 300")
	long := strings.TrimSpace(s.mustCLI(t, "run", "long", "--array", "4"))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.mustCLI(t, "runs", "list", "--parent", long, "--status", "RUNNING"), "long[") {
		if time.Now().After(deadline) {
			t.Fatalf("no child of %s runs", long)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.mustCLI(t, "runs", "stop", long)
	s.waitStatus(t, long, 30*time.Second, flotilla.StatusStopped)
	if got := s.mustCLI(t, "runs", "list", "--parent", long, "--status", "STOPPED"); strings.Count(got, "long[") != 4 {
		t.Errorf("children after the stop:\n%s", got)
	}
}

// TestCLIAfter: a run launched --after another is WAITING (runs get says
// for what, with its status; runs list --status WAITING and --after find
// it) until that one succeeds; after a failed run it ends STOPPED.
func TestCLIAfter(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--max-running", "2")
	s.mustCLI(t, "definitions", "create", "--alias", "slow", "--image", "alpine:3", "--cpu", "256", "--memory", "128", "--command", "sleep 3; echo slow")
	s.mustCLI(t, "definitions", "create", "--alias", "next", "--image", "alpine:3", "--cpu", "256", "--memory", "128", "--command", "echo next")
	s.mustCLI(t, "definitions", "create", "--alias", "bad", "--image", "alpine:3", "--cpu", "256", "--memory", "128", "--command", "exit 4")
	slow := strings.TrimSpace(s.mustCLI(t, "run", "slow"))
	other := strings.TrimSpace(s.mustCLI(t, "run", "next"))
	s.waitStatus(t, other, 20*time.Second, flotilla.StatusSucceeded)
	waiting := strings.TrimSpace(s.mustCLI(t, "run", "next", "--after", slow, "--after", other))
	got := s.mustCLI(t, "runs", "get", waiting)
	for _, want := range []string{`status\s+WAITING`, `waiting because\s+the runs it was launched after have not all succeeded`,
		`reason\s+waiting for ` + slow + `\n`, `after\s+` + slow + ` \((QUEUED|PENDING|RUNNING)\), ` + other + ` \(SUCCEEDED\)`} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("runs get of a waiting run lacks %s:\n%s", want, got)
		}
	}
	if l := s.mustCLI(t, "runs", "list", "--status", "WAITING"); !strings.Contains(l, waiting) || !strings.Contains(l, "WAITING") {
		t.Errorf("runs list --status WAITING: %q", l)
	}
	if l := s.mustCLI(t, "runs", "list", "--after", slow); !strings.Contains(l, waiting) || strings.Contains(l, other) {
		t.Errorf("runs list --after: %q", l)
	}
	s.waitStatus(t, waiting, 30*time.Second, flotilla.StatusSucceeded)
	if logs := s.mustCLI(t, "logs", waiting); logs != "next\n" {
		t.Errorf("the dependent printed %q", logs)
	}

	// After a failed run: --follow says it waits, then exits 201 naming it.
	bad := strings.TrimSpace(s.mustCLI(t, "run", "bad"))
	out, errOut, code := s.cli(t, "run", "next", "--after", bad, "--follow")
	if code != ExitNeverStarted || !strings.Contains(errOut, bad) {
		t.Fatalf("run --after a failing run --follow: exit %d %q %q", code, out, errOut)
	}
	r := s.getRun(t, strings.Fields(out)[0])
	if r.Status != flotilla.StatusStopped || r.ReasonCode != flotilla.ReasonDependencyFailed {
		t.Errorf("after a failed run: %s %s %q", r.Status, r.ReasonCode, r.StatusReason)
	}
	if _, errOut, code := s.cli(t, "run", "next", "--after", "run_nope"); code == 0 || !strings.Contains(errOut, "after[0]") {
		t.Errorf("--after an unknown run: %d %q", code, errOut)
	}
}
