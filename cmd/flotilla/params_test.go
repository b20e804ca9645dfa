package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestCLITemplates drives a template through the real binary: a definition
// with a parameters_schema, --param typed by it, --dry-run, a real run whose
// output shows the values as the job got them, runs get showing the params,
// a refused launch and a schedule with params.
func TestCLITemplates(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	schema := filepath.Join(t.TempDir(), "schema.json")
	if err := os.WriteFile(schema, []byte(`{"type":"object","properties":{
		"day":{"type":"string","format":"date","title":"Day"},
		"count":{"type":"integer","minimum":1,"default":1},
		"note":{"type":"string","default":""},
		"loud":{"type":"boolean","default":false}},"required":["day"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustCLI(t, "definitions", "create", "--alias", "report", "--image", "alpine:3", "--cpu", "256", "--memory", "512",
		"--command", `printf '[%s]' {{ .params.day }} {{ .params.note }}; echo " count={{ .params.count }}{{ if .params.loud }} LOUD{{ end }}"`,
		"--parameters-schema", "@"+schema)
	if out := s.mustCLI(t, "definitions", "get", "report"); !strings.Contains(out, `"format":"date"`) {
		t.Fatalf("definitions get does not show the parameters:\n%s", out)
	}

	// --dry-run renders and launches nothing; "3" is the integer 3.
	out := s.mustCLI(t, "run", "report", "--param", "day=2026-12-05", "--param", "count=3", "--param", "loud=true", "--dry-run")
	if !strings.Contains(out, `printf '[%s]' '2026-12-05' ''; echo " count=3 LOUD"`) || !strings.Contains(out, `count=3 day="2026-12-05" loud=true note=""`) {
		t.Fatalf("dry run output:\n%s", out)
	}
	if runs := s.mustCLI(t, "runs", "list", "--json"); strings.Contains(runs, "run_") {
		t.Fatalf("a dry run made a run: %s", runs)
	}

	// A real run: the note, meant to break out, arrives as one word.
	out = s.mustCLI(t, "run", "report", "--param", "day=2026-12-05", "--param", "note=x'; echo INJECTED; '", "--json")
	var r flotilla.Run
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(t, r.ID, 30*time.Second, flotilla.StatusSucceeded)
	if logs := s.mustCLI(t, "logs", r.ID); logs != "[2026-12-05][x'; echo INJECTED; '] count=1\n" {
		t.Fatalf("logs %q", logs)
	}
	if got := s.mustCLI(t, "runs", "get", r.ID); !strings.Contains(got, `count=1 day="2026-12-05" loud=false note="x'; echo INJECTED; '"`) {
		t.Fatalf("runs get does not show the params:\n%s", got)
	}

	// Bad values: the CLI refuses what it can type, the API names the rest.
	if _, errOut, code := s.cli(t, "run", "report", "--param", "day=2026-12-05", "--param", "count=many"); code == 0 || !strings.Contains(errOut, "count") {
		t.Fatalf("count=many: exit %d %s", code, errOut)
	}
	_, errOut, code := s.cli(t, "run", "report", "--param", "day=someday", "--param", "colour=red")
	if code != ExitAPIError || !strings.Contains(errOut, "params.day") || !strings.Contains(errOut, "params.colour") {
		t.Fatalf("bad params: exit %d %s", code, errOut)
	}

	// A schedule with params, checked when created.
	if _, errOut, code := s.cli(t, "schedules", "create", "--name", "n", "--definition", "report", "--expression", "rate(1 day)", "--param", "day=31-12-2026"); code == 0 || !strings.Contains(errOut, "params.day") {
		t.Fatalf("schedule with a bad day: exit %d %s", code, errOut)
	}
	out = s.mustCLI(t, "schedules", "create", "--name", "n", "--definition", "report", "--expression", "rate(1 day)", "--param", "day=2026-12-31", "--param", "count=2")
	if !strings.Contains(out, `count=2 day="2026-12-31"`) {
		t.Fatalf("schedule output:\n%s", out)
	}

	// The schema is changed inline and removed with null (with the command
	// made plain again: a command naming .params needs its schema).
	if _, errOut, code := s.cli(t, "definitions", "update", "report", "--parameters-schema", "null"); code == 0 || !strings.Contains(errOut, "command") {
		t.Fatalf("removing the schema under a template: exit %d %s", code, errOut)
	}
	inline := `{"type":"object","properties":{"who":{"type":"string","default":"world"}}}`
	s.mustCLI(t, "definitions", "update", "report", "--parameters-schema", inline, "--command", "echo hello {{ .params.who }}")
	if out := s.mustCLI(t, "run", "report", "--dry-run"); !strings.Contains(out, "echo hello 'world'") {
		t.Fatalf("dry run after an inline schema:\n%s", out)
	}
	out = s.mustCLI(t, "definitions", "update", "report", "--parameters-schema", "null", "--command", "echo plain")
	if strings.Contains(out, "parameters") || !strings.Contains(out, "echo plain") {
		t.Fatalf("definition after its schema was removed:\n%s", out)
	}
}
