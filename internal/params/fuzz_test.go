package params_test

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/params"
)

// FuzzStringIsOneShellWord: whatever text a string parameter holds, the
// rendered command, run by sh -c as the executors run it, passes it to the
// job as exactly one argument, unchanged.
func FuzzStringIsOneShellWord(f *testing.F) {
	if _, err := exec.LookPath("sh"); err != nil {
		f.Skip("no sh on this machine")
	}
	for _, seed := range []string{"", "a b", "'", `'\''`, `"$(id)"`, "`id`", "a\nb", `\`, "$", "%s", "-n", "é", "'; exit 3; '"} {
		f.Add(seed)
	}
	schema := json.RawMessage(`{"type":"object","properties":{"v":{"type":"string"}},"required":["v"]}`)
	f.Fuzz(func(t *testing.T, v string) {
		p, err := params.Resolve(schema, flotilla.Params{"v": v})
		if err != nil {
			return // NUL or invalid UTF-8: refused before rendering
		}
		if len(v) > flotilla.MaxCommandBytes/5 { // each quote renders as 4 bytes
			return // the rendered command could pass the command limit (its own test)
		}
		cmd, err := params.Render("command", `printf '%s|' {{ .params.v }}`, schema, p)
		if err != nil {
			t.Fatalf("render %q: %v", v, err)
		}
		c := exec.Command("sh", "-c", cmd)
		c.Dir = t.TempDir()
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%q rendered as %s: %v", v, cmd, err)
		}
		if string(out) != v+"|" {
			t.Fatalf("%q rendered as %s reached the job as %q", v, cmd, out)
		}
	})
}

// BenchmarkResolveRender is what a template adds to a launch: the params
// checked against a cached compiled schema and the command rendered.
func BenchmarkResolveRender(b *testing.B) {
	s := json.RawMessage(schema)
	given := flotilla.Params{"date": "2026-12-05", "n": json.Number("4"), "verbose": true}
	const cmd = `load {{ .params.date }} {{ .params.mode }} -n {{ .params.n }}{{ if .params.verbose }} -v{{ end }}`
	for b.Loop() {
		p, err := params.Resolve(s, given)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := params.Render("command", cmd, s, p); err != nil {
			b.Fatal(err)
		}
	}
}
