package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// reportSchema is a template's schema as the UI and CLI tests use it too.
const reportSchema = `{"type":"object","properties":{
  "date":{"type":"string","format":"date","title":"Day"},
  "mode":{"type":"string","enum":["full","delta"],"default":"delta"},
  "n":{"type":"integer","minimum":1,"default":2},
  "loud":{"type":"boolean","default":false}},
 "required":["date"]}`

const reportCommand = `printf '<%s>' {{ .params.date }} {{ .params.mode }}; echo " n={{ .params.n }}{{ if .params.loud }} LOUD{{ end }}"`

func (h *harness) createTemplate(alias string) flotilla.Definition {
	h.t.Helper()
	var d flotilla.Definition
	h.must(201, "POST", "/v1/definitions", map[string]any{"alias": alias, "image": "alpine:3", "command": reportCommand,
		"cpu": 256, "memory": 512, "parameters_schema": json.RawMessage(reportSchema)}).into(h.t, &d)
	return d
}

// TestLaunchWithParams launches a template on the default cluster, whose
// runs are real sh -c processes: the params are validated, defaulted,
// recorded, and reach the job as words, a hostile value unchanged.
func TestLaunchWithParams(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	d := h.createTemplate("report")
	if len(d.ParametersSchema) == 0 || !strings.Contains(string(d.ParametersSchema), `"format":"date"`) {
		t.Fatalf("definition schema %s", d.ParametersSchema)
	}
	got := h.must(200, "GET", "/v1/definitions/report", nil)
	if !strings.Contains(string(got.body), `"parameters_schema":{"type":"object"`) {
		t.Fatalf("GET definition: %s", got)
	}

	var run flotilla.Run
	h.must(202, "POST", "/v1/runs", map[string]any{"definition": "report", "params": map[string]any{"date": "2026-12-05", "loud": true}}).into(t, &run)
	if want := `printf '<%s>' '2026-12-05' 'delta'; echo " n=2 LOUD"`; run.Command != want {
		t.Fatalf("command %q, want %q", run.Command, want)
	}
	wantParams := flotilla.Params{"date": "2026-12-05", "mode": "delta", "n": json.Number("2"), "loud": true}
	stored := h.getRun(run.ID)
	if !equalParams(stored.Params, wantParams) || stored.Command != run.Command {
		t.Fatalf("stored params %#v command %q", stored.Params, stored.Command)
	}
	if ended := h.waitEnded(run.ID); ended.Status != flotilla.StatusSucceeded {
		t.Fatalf("run %s: %s", ended.Status, ended.StatusReason)
	}
	if logs := h.logText(run.ID); logs != "<2026-12-05><delta> n=2 LOUD\n" {
		t.Fatalf("logs %q", logs)
	}

	// A value meant to break out of its word is one word, unchanged. The
	// schema's date format stops it here, so a free-text template is used.
	h.must(201, "POST", "/v1/definitions", map[string]any{"alias": "echo", "image": "alpine:3", "cpu": 256, "memory": 512,
		"command":           `printf '[%s]' {{ .params.text }}; echo`,
		"parameters_schema": json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)})
	hostile := `a b'; echo INJECTED; '$(echo INJECTED)`
	h.must(202, "POST", "/v1/runs", map[string]any{"definition": "echo", "params": map[string]any{"text": hostile}}).into(t, &run)
	h.waitEnded(run.ID)
	if logs := h.logText(run.ID); logs != "["+hostile+"]\n" {
		t.Fatalf("logs %q, want the value as one word", logs)
	}
}

func equalParams(a, b flotilla.Params) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// logText is a run's whole log as text.
func (h *harness) logText(id string) string {
	h.t.Helper()
	var page struct {
		Events []struct {
			Message string `json:"message"`
		} `json:"events"`
	}
	h.must(200, "GET", "/v1/runs/"+id+"/logs", nil).into(h.t, &page)
	var sb strings.Builder
	for _, e := range page.Events {
		sb.WriteString(e.Message + "\n")
	}
	return sb.String()
}

// TestParamsAndIdempotency: the same key with the same params is the same
// run; with other params it is a conflict, not a silently different run.
func TestParamsAndIdempotency(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	h.createTemplate("report")
	body := func(day string) map[string]any {
		return map[string]any{"definition": "report", "cluster": parkedCluster, "idempotency_key": "k1", "params": map[string]any{"date": day}}
	}
	var first, again flotilla.Run
	h.must(202, "POST", "/v1/runs", body("2026-12-05")).into(t, &first)
	h.must(200, "POST", "/v1/runs", body("2026-12-05")).into(t, &again)
	if again.ID != first.ID {
		t.Fatalf("same key and params: %s then %s", first.ID, again.ID)
	}
	h.must(409, "POST", "/v1/runs", body("2026-12-06"))
}

// TestDryRun renders without storing or queueing.
func TestDryRun(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	h.createTemplate("report")
	before := h.snapshot()
	r := h.must(200, "POST", "/v1/runs", map[string]any{"definition": "report", "dry_run": true, "params": map[string]any{"date": "2026-01-31", "n": 5}})
	var run flotilla.Run
	r.into(t, &run)
	if want := `printf '<%s>' '2026-01-31' 'delta'; echo " n=5"`; run.Command != want || run.Status != flotilla.StatusQueued {
		t.Fatalf("dry run %s %q", run.Status, run.Command)
	}
	if r.header.Get("Location") != "" {
		t.Errorf("a dry run has a Location: %s", r.header.Get("Location"))
	}
	if after := h.snapshot(); after != before {
		t.Fatalf("a dry run changed the store:\n%s", after)
	}
	h.must(404, "GET", "/v1/runs/"+run.ID, nil)
	// The same checks as a launch.
	p := h.must(400, "POST", "/v1/runs", map[string]any{"definition": "report", "dry_run": true, "params": map[string]any{"date": "tomorrow"}})
	if got := p.fields(t); !slices.Equal(got, []string{"params.date"}) {
		t.Fatalf("fields %v", got)
	}
}

// TestParamsBadInputWritesNothing: every wrong schema, template and value
// is a 400 naming the place, and the store is as it was.
func TestParamsBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	h.createTemplate("report")
	h.createDefinition("plain", "echo plain")
	h.must(201, "POST", "/v1/definitions", map[string]any{"alias": "free", "image": "alpine:3", "cpu": 256, "memory": 512,
		"command": "echo {{ .params.text }}", "parameters_schema": json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)})
	def := func(schema, command string) map[string]any {
		m := map[string]any{"alias": "new", "image": "alpine:3", "cpu": 256, "memory": 512, "command": command}
		if schema != "" {
			m["parameters_schema"] = json.RawMessage(schema)
		}
		return m
	}
	obj := func(props string) string { return `{"type":"object","properties":{` + props + `}}` }
	cases := []struct {
		name, method, path string
		body               any
		fields             []string
	}{
		{"schema not an object", "POST", "/v1/definitions", def(`"x"`, "true"), []string{"parameters_schema"}},
		{"schema of an array", "POST", "/v1/definitions", def(`{"type":"array"}`, "true"), []string{"parameters_schema.type"}},
		{"nested object parameter", "POST", "/v1/definitions", def(obj(`"x":{"type":"object"}`), "true"), []string{"parameters_schema.properties.x.type"}},
		{"unsupported keyword", "POST", "/v1/definitions", def(obj(`"x":{"type":"string","anyOf":[]}`), "true"), []string{"parameters_schema.properties.x.anyOf"}},
		{"bad default", "POST", "/v1/definitions", def(obj(`"x":{"type":"integer","minimum":5,"default":1}`), "true"), []string{"parameters_schema.properties.x.default"}},
		{"template does not parse", "POST", "/v1/definitions", def(obj(`"x":{"type":"string"}`), "echo {{ .params.x"), []string{"command"}},
		{"template names an unknown parameter", "POST", "/v1/definitions", def(obj(`"x":{"type":"string"}`), "echo {{ .params.y }}"), []string{"command"}},
		{"template calls a function", "POST", "/v1/definitions", def(obj(`"x":{"type":"string"}`), `echo {{ printf "%s" .params.x }}`), []string{"command"}},
		{"string parameter in quotes", "POST", "/v1/definitions", def(obj(`"x":{"type":"string"}`), `echo "{{ .params.x }}"`), []string{"command"}},
		{"schema too large", "POST", "/v1/definitions", def(obj(`"x":{"type":"string","description":"`+strings.Repeat("d", flotilla.MaxParametersSchemaBytes)+`"}`), "true"), []string{"parameters_schema"}},
		{"patch schema the command cannot use", "PATCH", "/v1/definitions/report", map[string]any{"parameters_schema": json.RawMessage(obj(`"date":{"type":"string"}`))}, []string{"command"}},
		{"patch command with an unknown parameter", "PATCH", "/v1/definitions/report", map[string]any{"command": "echo {{ .params.when }}"}, []string{"command"}},
		{"patch schema removed under a template", "PATCH", "/v1/definitions/report", `{"parameters_schema":null}`, []string{"command"}},

		{"launch without the required parameter", "POST", "/v1/runs", map[string]any{"definition": "report", "cluster": parkedCluster}, []string{"params.date"}},
		{"launch with bad values", "POST", "/v1/runs", map[string]any{"definition": "report", "cluster": parkedCluster,
			"params": map[string]any{"date": "2026-02-30", "mode": "weekly", "n": 0.5, "loud": "yes", "colour": "red"}},
			[]string{"params.colour", "params.date", "params.loud", "params.mode", "params.n"}},
		{"launch params not an object", "POST", "/v1/runs", `{"definition":"report","params":["2026-01-01"]}`, []string{"params"}},
		{"launch nested value", "POST", "/v1/runs", `{"definition":"report","params":{"date":{"y":2026}}}`, []string{"params.date"}},
		{"launch params to a plain definition", "POST", "/v1/runs", map[string]any{"definition": "plain", "cluster": parkedCluster, "params": map[string]any{"x": "1"}}, []string{"params"}},
		{"launch command override with a bad template", "POST", "/v1/runs", map[string]any{"definition": "report", "cluster": parkedCluster,
			"command": "echo '{{ .params.date }}'", "params": map[string]any{"date": "2026-01-01"}}, []string{"command"}},
		{"launch rendering past the command limit", "POST", "/v1/runs", map[string]any{"definition": "free", "cluster": parkedCluster,
			"params": map[string]any{"text": strings.Repeat("x", flotilla.MaxCommandBytes)}}, []string{"params"}},
		{"dry run with bad values", "POST", "/v1/runs", map[string]any{"definition": "report", "dry_run": true, "params": map[string]any{"n": -1}}, []string{"params.date", "params.n"}},
	}
	before := h.snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := *h
			h.t = t
			r := h.do(c.method, c.path, c.body)
			if r.status != 400 {
				t.Fatalf("got %s, want 400", r)
			}
			if got := r.fields(t); !slices.Equal(got, c.fields) {
				t.Errorf("fields %q, want %q (%s)", got, c.fields, r)
			}
			if after := h.snapshot(); after != before {
				t.Errorf("the store changed")
			}
		})
	}
}

// TestPatchParametersSchema: a schema is added, kept, and removed with null.
func TestPatchParametersSchema(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	h.createDefinition("plain", "echo {{ not a template here }}")
	var d flotilla.Definition
	h.must(200, "PATCH", "/v1/definitions/plain", map[string]any{"command": "echo {{ .params.who }}",
		"parameters_schema": json.RawMessage(`{"type":"object","properties":{"who":{"type":"string","default":"world"}}}`)}).into(t, &d)
	if d.Revision != 2 || len(d.ParametersSchema) == 0 {
		t.Fatalf("revision %d schema %s", d.Revision, d.ParametersSchema)
	}
	// The same schema with other spacing is no change.
	h.must(200, "PATCH", "/v1/definitions/plain", `{"parameters_schema": {"type": "object", "properties": {"who": {"type": "string", "default": "world"}}}}`).into(t, &d)
	if d.Revision != 2 {
		t.Fatalf("revision %d after an identical schema", d.Revision)
	}
	var run flotilla.Run
	h.must(202, "POST", "/v1/runs", map[string]any{"definition": "plain", "cluster": parkedCluster}).into(t, &run)
	if run.Command != "echo 'world'" {
		t.Fatalf("command %q", run.Command)
	}
	h.must(200, "PATCH", "/v1/definitions/plain", `{"parameters_schema":null,"command":"echo {{ no longer a template }}"}`).into(t, &d)
	if d.Revision != 3 || d.ParametersSchema != nil {
		t.Fatalf("revision %d schema %s", d.Revision, d.ParametersSchema)
	}
	h.must(202, "POST", "/v1/runs", map[string]any{"definition": "plain", "cluster": parkedCluster}).into(t, &run)
	if run.Command != "echo {{ no longer a template }}" || run.Params != nil {
		t.Fatalf("without a schema the command is plain text: %q %v", run.Command, run.Params)
	}
}
