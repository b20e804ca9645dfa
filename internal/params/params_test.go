package params_test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/params"
)

const schema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
 "properties":{
  "date":{"type":"string","format":"date","title":"Day","description":"which day to load"},
  "mode":{"type":"string","enum":["full","delta"],"default":"delta"},
  "n":{"type":"integer","minimum":1,"maximum":10,"default":3},
  "ratio":{"type":"number","exclusiveMinimum":0},
  "verbose":{"type":"boolean","default":false},
  "note":{"type":"string","maxLength":200,"default":""}},
 "required":["date"]}`

// fields returns the field names of a validation error, sorted.
func fields(t *testing.T, err error) []string {
	t.Helper()
	var v *flotilla.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("want a validation error, got %v", err)
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestCheckSchemaAcceptsTheSupportedShape(t *testing.T) {
	if err := params.CheckSchema(json.RawMessage(schema)); err != nil {
		t.Fatal(err)
	}
	if err := params.CheckSchema(nil); err != nil {
		t.Fatal(err)
	}
	s, err := params.Parse(json.RawMessage(schema))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"date", "mode", "n", "ratio", "verbose", "note"}; !reflect.DeepEqual(s.Order, want) {
		t.Fatalf("order %v, want %v (as written)", s.Order, want)
	}
}

func TestCheckSchemaRefusesWhatAFormCannotShow(t *testing.T) {
	cases := map[string]struct{ schema, field string }{
		"not an object":       {`[1]`, "parameters_schema"},
		"not JSON":            {`{"type":`, "parameters_schema"},
		"type array":          {`{"type":"array"}`, "parameters_schema.type"},
		"other draft":         {`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`, "parameters_schema.$schema"},
		"a $ref":              {`{"type":"object","$ref":"https://example.com/x.json"}`, "parameters_schema.$ref"},
		"nested object":       {`{"type":"object","properties":{"x":{"type":"object"}}}`, "parameters_schema.properties.x.type"},
		"array parameter":     {`{"type":"object","properties":{"x":{"type":"array","items":{"type":"string"}}}}`, "parameters_schema.properties.x.type"},
		"no type":             {`{"type":"object","properties":{"x":{"enum":["a"]}}}`, "parameters_schema.properties.x.type"},
		"two types":           {`{"type":"object","properties":{"x":{"type":["string","null"]}}}`, "parameters_schema.properties.x.type"},
		"oneOf":               {`{"type":"object","properties":{"x":{"type":"string","oneOf":[{"minLength":1}]}}}`, "parameters_schema.properties.x.oneOf"},
		"pattern on a number": {`{"type":"object","properties":{"x":{"type":"number","pattern":"a"}}}`, "parameters_schema.properties.x.pattern"},
		"bad name":            {`{"type":"object","properties":{"a-b":{"type":"string"}}}`, "parameters_schema.properties.a-b"},
		"enum of other type":  {`{"type":"object","properties":{"x":{"type":"integer","enum":[1,"2"]}}}`, "parameters_schema.properties.x.enum"},
		"empty enum":          {`{"type":"object","properties":{"x":{"type":"string","enum":[]}}}`, "parameters_schema.properties.x.enum"},
		"default of a type":   {`{"type":"object","properties":{"x":{"type":"integer","default":"3"}}}`, "parameters_schema.properties.x.default"},
		"default not in enum": {`{"type":"object","properties":{"x":{"type":"string","enum":["a"],"default":"b"}}}`, "parameters_schema.properties.x.default"},
		"default too big":     {`{"type":"object","properties":{"x":{"type":"integer","maximum":3,"default":4}}}`, "parameters_schema.properties.x.default"},
		"fraction integer":    {`{"type":"object","properties":{"x":{"type":"integer","default":1.5}}}`, "parameters_schema.properties.x.default"},
		"required unknown":    {`{"type":"object","properties":{},"required":["y"]}`, "parameters_schema.required"},
		"open object":         {`{"type":"object","additionalProperties":true}`, "parameters_schema.additionalProperties"},
		"bad pattern":         {`{"type":"object","properties":{"x":{"type":"string","pattern":"(" }}}`, "parameters_schema.properties.x.pattern"},
		"unknown format":      {`{"type":"object","properties":{"x":{"type":"string","format":"color"}}}`, "parameters_schema.properties.x.format"},
		"title not text":      {`{"type":"object","properties":{"x":{"type":"string","title":3}}}`, "parameters_schema.properties.x.title"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := params.CheckSchema(json.RawMessage(c.schema))
			got := fields(t, err)
			if len(got) == 0 || got[0] != c.field {
				t.Fatalf("fields %v, want %s first (%v)", got, c.field, err)
			}
		})
	}
}

func TestCheckTemplate(t *testing.T) {
	ok := []string{
		`load --date {{ .params.date }} --mode {{.params.mode}} -n {{ .params.n }}`,
		`echo {{ .params.date }}{{ if .params.verbose }} --verbose{{ else }} --quiet{{ end }}`,
		`x="{{ .params.n }}"; echo "$x" {{ .params.date }}`, // numbers may sit in quotes
		`echo {{ "{{" }} literal braces, then {{ .params.date }}`,
		`echo a # a comment
echo {{ .params.note }}`,
		`echo --name={{ .params.note }}`,
		`echo it\'s {{ .params.note }}`, // an escaped quote opens nothing
		`cat <<< x; true`,               // no parameter after it
	}
	for _, cmd := range ok {
		if err := params.CheckTemplate("command", cmd, json.RawMessage(schema)); err != nil {
			t.Errorf("%q: %v", cmd, err)
		}
	}
	bad := map[string]string{
		"does not parse":          `echo {{ .params.date `,
		"unknown parameter":       `echo {{ .params.nope }}`,
		"not params":              `echo {{ .date }}`,
		"whole params":            `echo {{ .params }}`,
		"a function":              `echo {{ printf "%s" .params.date }}`,
		"a builtin on a value":    `echo {{ slice .params.date 1 }}`,
		"a pipeline":              `echo {{ .params.date | print }}`,
		"a variable":              `echo {{ $x := .params.date }}{{ $x }}`,
		"range":                   `{{ range .params.date }}x{{ end }}`,
		"with":                    `{{ with .params.date }}x{{ end }}`,
		"define":                  `{{ define "x" }}y{{ end }}echo`,
		"if on a string":          `{{ if .params.date }}x{{ end }}`,
		"in single quotes":        `echo '{{ .params.note }}'`,
		"in double quotes":        `echo "{{ .params.note }}"`,
		"in backquotes":           "echo `echo {{ .params.note }}`",
		"after a backslash":       `echo \{{ .params.note }}`,
		"right after $":           `echo ${{ .params.note }}`,
		"right after $ in a word": `echo a=${{ .params.note }}`,
		"in a comment":            `echo a # {{ .params.note }}`,
		"in a here-document":      "cat <<EOF\n{{ .params.note }}\nEOF",
		"unbalanced branches":     `echo {{ if .params.verbose }}"{{ end }}{{ .params.note }}"`,
	}
	for name, cmd := range bad {
		t.Run(name, func(t *testing.T) {
			err := params.CheckTemplate("command", cmd, json.RawMessage(schema))
			if got := fields(t, err); !reflect.DeepEqual(got, []string{"command"}) {
				t.Fatalf("fields %v, want [command]", got)
			}
		})
	}
	// Without a schema a command is plain text: Go template syntax in it
	// (docker --format '{{.ID}}') is left alone.
	if err := params.CheckTemplate("command", `docker ps --format '{{.ID}}'`, nil); err != nil {
		t.Fatal(err)
	}
}

func TestResolveFillsDefaultsAndNamesEachBadParameter(t *testing.T) {
	got, err := params.Resolve(json.RawMessage(schema), flotilla.Params{"date": "2026-12-05", "n": json.Number("4.0")})
	if err != nil {
		t.Fatal(err)
	}
	want := flotilla.Params{"date": "2026-12-05", "mode": "delta", "n": json.Number("4"), "verbose": false, "note": ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}

	_, err = params.Resolve(json.RawMessage(schema), flotilla.Params{
		"date": "2026-13-01", "mode": "weekly", "n": json.Number("11"), "ratio": "high", "verbose": "yes", "extra": "x"})
	wantFields := []string{"params.date", "params.extra", "params.mode", "params.n", "params.ratio", "params.verbose"}
	if got := fields(t, err); !reflect.DeepEqual(got, wantFields) {
		t.Fatalf("fields %v, want %v (%v)", got, wantFields, err)
	}
	if _, err := params.Resolve(json.RawMessage(schema), flotilla.Params{}); !reflect.DeepEqual(fields(t, err), []string{"params.date"}) {
		t.Fatalf("missing required: %v", err)
	}
	if _, err := params.Resolve(json.RawMessage(schema), flotilla.Params{"date": "2026-12-05", "note": "a\x00b"}); !reflect.DeepEqual(fields(t, err), []string{"params.note"}) {
		t.Fatalf("NUL: %v", err)
	}
	if _, err := params.Resolve(nil, flotilla.Params{"x": "y"}); !reflect.DeepEqual(fields(t, err), []string{"params"}) {
		t.Fatalf("no schema: %v", err)
	}
	if p, err := params.Resolve(nil, nil); err != nil || p != nil {
		t.Fatalf("no schema, no params: %v %v", p, err)
	}
}

func TestRender(t *testing.T) {
	p, err := params.Resolve(json.RawMessage(schema), flotilla.Params{"date": "2026-12-05", "verbose": true, "ratio": json.Number("0.5")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := params.Render("command", `load {{ .params.date }} {{ .params.mode }} -n {{ .params.n }}{{ if .params.verbose }} -v{{ end }} {{ .params.note }}`, json.RawMessage(schema), p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `load '2026-12-05' 'delta' -n 3 -v ''`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A parameter the command prints must be required or have a default:
	// the author is told when the definition is written, not a launcher later.
	err = params.CheckTemplate("command", `echo {{ .params.ratio }}`, json.RawMessage(schema))
	if got := fields(t, err); !reflect.DeepEqual(got, []string{"command"}) {
		t.Fatalf("fields %v", got)
	}
	// The rendered command must fit the command limit.
	long, _ := params.Resolve(json.RawMessage(`{"type":"object","properties":{"s":{"type":"string"}},"required":["s"]}`), flotilla.Params{"s": strings.Repeat("x", flotilla.MaxCommandBytes)})
	_, err = params.Render("command", `echo {{ .params.s }}`, json.RawMessage(`{"type":"object","properties":{"s":{"type":"string"}},"required":["s"]}`), long)
	if got := fields(t, err); !reflect.DeepEqual(got, []string{"params"}) {
		t.Fatalf("fields %v", got)
	}
}

// TestRenderedStringsAreOneShellWord runs rendered commands under sh -c, as
// the executors do, with values meant to break out: each must arrive as
// exactly one argument, unchanged, and nothing else must run.
func TestRenderedStringsAreOneShellWord(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on this machine")
	}
	s := json.RawMessage(`{"type":"object","properties":{"v":{"type":"string"}},"required":["v"]}`)
	hostile := []string{
		`plain`, ``, `two words`, `it's`, `'`, `''`, `'; touch pwned; '`, `"; touch pwned; "`,
		`$(touch pwned)`, "`touch pwned`", `$HOME`, `*`, `a\`, `\'`, "line1\nline2\ntouch pwned",
		`--flag=x y`, `;|&<>(){}[]!#~`, "\t", `é ✓`,
	}
	dir := t.TempDir()
	for _, v := range hostile {
		p, err := params.Resolve(s, flotilla.Params{"v": v})
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := params.Render("command", `printf '%s|' {{ .params.v }}; echo $#`, s, p)
		if err != nil {
			t.Fatal(err)
		}
		// $# is 0 in sh -c without arguments; printf prints each word.
		c := exec.Command("sh", "-c", cmd)
		c.Dir = dir
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if want := v + "|0\n"; string(out) != want {
			t.Errorf("value %q rendered as %s printed %q, want %q", v, cmd, out, want)
		}
	}
	if entries, _ := exec.Command("ls", "-A", dir).Output(); len(entries) > 0 {
		t.Fatalf("a value ran a command: %s", entries)
	}
}

// TestHugeNumbersAreRefusedCheaply: numbers no float64 holds, and integers
// past 64 bits, are refused naming the parameter, before any exact
// arithmetic on them.
func TestHugeNumbersAreRefusedCheaply(t *testing.T) {
	s := json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"},"x":{"type":"number","minimum":0}}}`)
	_, err := params.Resolve(s, flotilla.Params{"n": json.Number("1e1000000"), "x": json.Number("1e1000000")})
	if got := fields(t, err); !reflect.DeepEqual(got, []string{"params.n", "params.x"}) {
		t.Fatalf("fields %v (%v)", got, err)
	}
	_, err = params.Resolve(s, flotilla.Params{"n": json.Number("9223372036854775808")})
	if got := fields(t, err); !reflect.DeepEqual(got, []string{"params.n"}) {
		t.Fatalf("2^63: fields %v", got)
	}
	if p, err := params.Resolve(s, flotilla.Params{"n": json.Number("-9223372036854775807"), "x": json.Number("1e300")}); err != nil || p["n"] != json.Number("-9223372036854775807") {
		t.Fatalf("in range: %v %v", p, err)
	}
	err = params.CheckSchema(json.RawMessage(`{"type":"object","properties":{"x":{"type":"number","minimum":1e1000000,"default":1e999}}}`))
	if got := fields(t, err); !reflect.DeepEqual(got, []string{"parameters_schema.properties.x.default", "parameters_schema.properties.x.minimum"}) {
		t.Fatalf("schema: fields %v", got)
	}
}
