package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

// conditional reports whether an operation is served only when an optional
// service is configured (/v1/schedules); the routes table does not hold it.
func conditional(op map[string]any) bool {
	_, ok := op["x-flotilla-conditional"]
	return ok
}

func TestOpenAPIDocumentsEveryRouteAndNothingElse(t *testing.T) {
	t.Parallel()
	routes := api.Routes()
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt, " ")
		op, ok := spec.operation(method, pattern)
		if !ok {
			t.Errorf("route %s is not in openapi.json", rt)
			continue
		}
		if conditional(op) {
			t.Errorf("route %s is always served but documented as conditional", rt)
		}
	}
	var documented int
	for path, item := range spec.paths() {
		for method, v := range item {
			op, ok := v.(map[string]any)
			if !ok || !slices.Contains(httpMethods, strings.ToUpper(method)) {
				continue
			}
			documented++
			rt := strings.ToUpper(method) + " " + path
			if conditional(op) {
				if !strings.HasPrefix(path, "/v1/schedules") {
					t.Errorf("%s: only /v1/schedules may be conditional", rt)
				}
				continue
			}
			if !slices.Contains(routes, rt) {
				t.Errorf("openapi.json documents %s, which is not a route", rt)
			}
		}
	}
	if documented < len(routes) {
		t.Errorf("documented %d operations for %d routes", documented, len(routes))
	}
}

// TestOpenAPIDocumentIsWellFormed checks what the schema validation of
// responses would not notice: unresolvable references, undeclared path
// parameters, duplicate operation ids, and the closed sets the code has.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	t.Parallel()
	if v := spec.doc["openapi"]; v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}
	schemas := spec.doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range schemas {
		if _, err := spec.schema("/components/schemas/" + name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	// Every $ref in the document must point at something.
	for _, ref := range regexp.MustCompile(`"\$ref": "#([^"]+)"`).FindAllSubmatch(api.OpenAPIDocument, -1) {
		if !resolves(spec.doc, string(ref[1])) {
			t.Errorf("$ref #%s does not resolve", ref[1])
		}
	}
	ids := map[string]string{}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range spec.paths() {
		declared := map[string]bool{}
		for _, p := range asList(item["parameters"]) {
			if p["in"] == "path" {
				declared[p["name"].(string)] = true
			}
		}
		for method, v := range item {
			op, ok := v.(map[string]any)
			if !ok || !slices.Contains(httpMethods, strings.ToUpper(method)) {
				continue
			}
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] != "" {
				t.Errorf("%s %s: operationId %q missing or used by %s too", method, path, id, ids[id])
			}
			ids[id] = method + " " + path
			for _, m := range param.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s %s: path parameter %s is not declared", method, path, m[1])
				}
			}
			if len(op["responses"].(map[string]any)) == 0 {
				t.Errorf("%s %s: no responses", method, path)
			}
		}
	}
	enum := func(name string) []string {
		var out []string
		for _, v := range schemas[name].(map[string]any)["enum"].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	var want []string
	for _, s := range flotilla.AllStatuses {
		want = append(want, string(s))
	}
	if got := enum("RunStatus"); !slices.Equal(got, want) {
		t.Errorf("RunStatus enum %v, want %v", got, want)
	}
	want = nil
	for _, s := range flotilla.ReasonCodes {
		want = append(want, string(s))
	}
	if got := enum("ReasonCode"); !slices.Equal(got, want) {
		t.Errorf("ReasonCode enum %v, want %v", got, want)
	}
	want = nil
	for _, s := range flotilla.WaitReasons {
		want = append(want, string(s))
	}
	if got := enum("WaitReason"); !slices.Equal(got, want) {
		t.Errorf("WaitReason enum %v, want %v", got, want)
	}
}

// TestOpenAPISchemasMatchTypes compares each schema's properties with the
// JSON fields of the Go type behind it: the same names, and for responses,
// required exactly when the field is always written (no omitempty).
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	t.Parallel()
	schemas := spec.doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, c := range []struct {
		schema   string
		typ      any
		response bool
	}{
		{"Definition", flotilla.Definition{}, true},
		{"RetryPolicy", flotilla.RetryPolicy{}, true},
		{"Run", flotilla.Run{}, true},
		{"Attempt", flotilla.Attempt{}, true},
		{"StopRequest", flotilla.StopRequest{}, true},
		{"RunEvent", flotilla.RunEvent{}, true},
		{"LogEvent", flotilla.LogEvent{}, true},
		{"LogPage", api.LogsResponse{}, true},
		{"ClusterStats", flotilla.ClusterStats{}, true},
		{"CostItem", api.CostItem{}, true},
		{"Problem", api.Problem{}, true},
		{"FieldError", flotilla.FieldError{}, true},
		{"RunPage", flotilla.Page[flotilla.Run]{}, true},
		{"DefinitionPage", flotilla.Page[flotilla.Definition]{}, true},
		{"DefinitionInput", api.DefinitionInput{}, false},
		{"RetryPolicyInput", flotilla.RetryPolicy{}, false},
		{"DefinitionPatch", flotilla.DefinitionPatch{}, false},
		{"LaunchRequest", runs.LaunchRequest{}, false},
	} {
		s := schemas[c.schema].(map[string]any)
		var props, required []string
		for name := range s["properties"].(map[string]any) {
			props = append(props, name)
		}
		for _, r := range asAnySlice(s["required"]) {
			required = append(required, r.(string))
		}
		var fields, always []string
		rt := reflect.TypeOf(c.typ)
		for i := range rt.NumField() {
			tag := rt.Field(i).Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || !rt.Field(i).IsExported() {
				continue
			}
			fields = append(fields, name)
			if !strings.Contains(opts, "omitempty") {
				always = append(always, name)
			}
		}
		slices.Sort(props)
		slices.Sort(fields)
		if !slices.Equal(props, fields) {
			t.Errorf("%s: schema properties %v, %T fields %v", c.schema, props, c.typ, fields)
		}
		if s["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is not false", c.schema)
		}
		if c.response {
			slices.Sort(required)
			slices.Sort(always)
			if !slices.Equal(required, always) {
				t.Errorf("%s: required %v, but %T always writes %v", c.schema, required, c.typ, always)
			}
		}
	}
}

func asList(v any) []map[string]any {
	var out []map[string]any
	for _, x := range asAnySlice(v) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func asAnySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func resolves(doc any, pointer string) bool {
	cur := doc
	for _, part := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestOpenAPIServedIsTheFile(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	r := h.must(200, "GET", "/v1/openapi.json", nil)
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.body, file) {
		t.Error("GET /v1/openapi.json is not openapi.json")
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestOpenAPIResponses drives every route through each status it documents
// (500 aside) on a real server; the harness validates every response body
// against the document. At the end, every documented status must have been
// seen.
// scheduledAlias is a schedule service whose only schedule launches the
// definition alias (nothing else of it is called here).
type scheduledAlias struct {
	*schedules.Service
	alias string
}

func (a scheduledAlias) UsingDefinition(_ context.Context, d flotilla.Definition, _ int) ([]flotilla.Schedule, error) {
	if d.Alias != a.alias {
		return nil, nil
	}
	return []flotilla.Schedule{{ID: "sch_01JDNIGHTLY", Name: "nightly", Definition: d.ID}}, nil
}

func TestOpenAPIResponses(t *testing.T) {
	h := setup(t, options{schedules: scheduledAlias{alias: "grouped-later"}})

	h.must(200, "GET", "/v1/health", nil)
	h.must(200, "GET", "/v1/openapi.json", nil)
	h.must(200, "GET", "/v1/clusters", nil)

	// Definitions.
	ok := h.createDefinition("ok", "echo out; echo err >&2")
	fails := h.createDefinition("fails", "echo bye; exit 3")
	sleeper := h.createDefinition("sleeper", "sleep 30")
	h.must(201, "POST", "/v1/definitions", map[string]any{"alias": "grouped", "group_name": "etl", "image": "python:3.13", "command": "true",
		"cpu": 1024, "memory": 2048, "gpu": 1, "timeout_seconds": 60, "retry": map[string]int{"max_attempts": 2}})
	h.must(400, "POST", "/v1/definitions", `{"alias":`)
	h.must(409, "POST", "/v1/definitions", map[string]any{"alias": "ok", "image": "alpine", "command": "true", "cpu": 256, "memory": 512})
	h.must(413, "POST", "/v1/definitions", oversized())
	h.must(200, "GET", "/v1/definitions", nil)
	list := h.must(200, "GET", "/v1/definitions?limit=1", nil)
	var page flotilla.Page[flotilla.Definition]
	list.into(t, &page)
	if page.NextToken == "" || len(page.Items) != 1 {
		t.Errorf("limit=1: %s", list)
	}
	h.must(200, "GET", "/v1/definitions?limit=1&next_token="+page.NextToken, nil)
	h.must(200, "GET", "/v1/definitions?alias=lee&group=&tag=team:data&image=alp", nil)
	h.must(200, "GET", "/v1/definitions?group=etl", nil)
	h.must(400, "GET", "/v1/definitions?limit=0", nil)
	h.must(200, "GET", "/v1/definitions/"+ok.ID, nil)
	h.must(200, "GET", "/v1/definitions/ok", nil)
	h.must(404, "GET", "/v1/definitions/nope", nil)
	h.must(200, "PATCH", "/v1/definitions/ok", map[string]any{"env": map[string]string{"A": "1"}})
	h.must(400, "PATCH", "/v1/definitions/ok", map[string]any{"cpu": 1})
	h.must(404, "PATCH", "/v1/definitions/nope", map[string]any{"cpu": 512})
	h.must(409, "PATCH", "/v1/definitions/ok", map[string]any{"alias": "fails"})
	h.must(413, "PATCH", "/v1/definitions/ok", oversized())
	h.must(200, "GET", "/v1/definitions/ok/revisions/1", nil)
	h.must(200, "GET", "/v1/definitions/ok/revisions/2", nil)
	h.must(400, "GET", "/v1/definitions/ok/revisions/first", nil)
	h.must(404, "GET", "/v1/definitions/ok/revisions/9", nil)
	h.must(201, "POST", "/v1/definitions", map[string]any{"alias": "grouped-later", "image": "alpine", "command": "true", "cpu": 256, "memory": 512})
	h.must(409, "DELETE", "/v1/definitions/grouped-later", nil)
	h.must(204, "DELETE", "/v1/definitions/grouped", nil)
	h.must(404, "DELETE", "/v1/definitions/grouped", nil)

	// Runs in every status.
	queued := h.launch(ok.ID, parkedCluster)
	h.launch(ok.ID, parkedCluster) // a second one, so the first's position is asked of a line
	var again flotilla.Run
	keyed := map[string]any{"definition": "ok", "cluster": parkedCluster, "idempotency_key": "k1",
		"env": map[string]string{"B": "2"}, "command": "echo override", "cpu": 512, "memory": 1024, "timeout_seconds": 30, "tags": []string{"x"}}
	h.must(202, "POST", "/v1/runs", keyed)
	h.must(200, "POST", "/v1/runs", keyed).into(t, &again)
	h.must(409, "POST", "/v1/runs", map[string]any{"definition": "ok", "cluster": parkedCluster, "idempotency_key": "k1"})
	// A text/plain body: 415, as documented.
	textPlain := func(path string) {
		t.Helper()
		method, target, _ := strings.Cut(path, " ")
		req, _ := http.NewRequest(method, h.url+target, strings.NewReader(`{"definition":"ok"}`))
		req.Header.Set("Content-Type", "text/plain")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := spec.check(req, response{status: res.StatusCode, header: res.Header, body: b}); err != nil || res.StatusCode != 415 {
			t.Errorf("text/plain %s: %d %s: %v", path, res.StatusCode, b, err)
		}
	}
	for _, path := range []string{"POST /v1/runs", "POST /v1/definitions", "PATCH /v1/definitions/ok", "POST /v1/runs/" + queued.ID + "/stop"} {
		textPlain(path)
	}
	if again.IdempotencyKey != "k1" {
		t.Errorf("idempotent launch: %+v", again)
	}
	h.must(400, "POST", "/v1/runs", map[string]any{"definition": "nope"})
	h.must(413, "POST", "/v1/runs", `{"definition":"ok","command":"`+strings.Repeat("x", api.MaxLaunchBodyBytes)+`"}`)
	var got flotilla.Run
	h.must(200, "GET", "/v1/runs/"+queued.ID, nil).into(t, &got)
	if got.Status != flotilla.StatusQueued || got.QueuePosition != 1 {
		t.Errorf("queued run: status %s position %d", got.Status, got.QueuePosition)
	}

	succeeded := h.launch("ok", defaultCluster)
	failed := h.launch(fails.ID, defaultCluster)
	h.waitEnded(succeeded.ID)
	h.waitEnded(failed.ID)
	estimated := h.launch("ok", parkedCluster)
	if estimated.EstimatedCostUSD == nil {
		t.Errorf("a launch after a success has no estimate")
	}
	running := h.launch(sleeper.ID, defaultCluster)
	waitStatus(t, h, running.ID, flotilla.StatusRunning)
	h.must(200, "GET", "/v1/runs/"+running.ID, nil)
	h.must(200, "GET", "/v1/runs/"+running.ID+"/logs", nil)
	var stopping flotilla.Run
	h.must(202, "POST", "/v1/runs/"+running.ID+"/stop", nil).into(t, &stopping)
	if stopping.StopRequest == nil {
		t.Errorf("stopping a running run: no stop_request in %+v", stopping)
	}
	h.must(202, "POST", "/v1/runs/"+queued.ID+"/stop", nil)
	if r := h.waitEnded(running.ID); r.Status != flotilla.StatusStopped {
		t.Errorf("stopped run ended %s", r.Status)
	}
	h.must(409, "POST", "/v1/runs/"+queued.ID+"/stop", nil)
	h.must(404, "POST", "/v1/runs/run_nope/stop", nil)

	// An array whose child 1 fails, and its failed child run again.
	h.createDefinition("odd", `test "$FLOTILLA_ARRAY_INDEX" != 1`)
	var arr, retried, again2 flotilla.Run
	h.must(202, "POST", "/v1/runs", map[string]any{"definition": "odd", "cluster": defaultCluster, "array": map[string]int{"size": 3}}).into(t, &arr)
	if ended := h.waitEnded(arr.ID); ended.Status != flotilla.StatusFailed || ended.ReasonCode != flotilla.ReasonChildrenFailed {
		t.Errorf("array with a failing child ended %s (%s): %s", ended.Status, ended.ReasonCode, ended.StatusReason)
	}
	h.must(200, "GET", "/v1/runs/"+arr.ID, nil).into(t, &got)
	if got.Array == nil || got.Array.Summary == nil || !slices.Equal(got.Array.Summary.FailedIndexes, []int{1}) || got.Array.Summary.Counts[flotilla.StatusSucceeded] != 2 {
		t.Errorf("array summary: %+v", got.Array)
	}
	h.must(200, "GET", "/v1/runs?parent="+arr.ID, nil)
	h.as("mallory", false).must(403, "POST", "/v1/runs/"+arr.ID+"/retry-failed", nil)
	h.must(202, "POST", "/v1/runs/"+arr.ID+"/retry-failed", nil).into(t, &retried)
	h.must(200, "POST", "/v1/runs/"+arr.ID+"/retry-failed", nil).into(t, &again2)
	if retried.Array == nil || retried.Array.RetryOf != arr.ID || retried.Array.Size != 1 || again2.ID != retried.ID {
		t.Errorf("retry-failed: %+v, then %s", retried.Array, again2.ID)
	}
	h.must(409, "POST", "/v1/runs/"+succeeded.ID+"/retry-failed", nil)
	h.must(404, "POST", "/v1/runs/run_nope/retry-failed", nil)
	textPlain("POST /v1/runs/" + arr.ID + "/retry-failed")
	for _, id := range []string{queued.ID, succeeded.ID, failed.ID, running.ID, estimated.ID} {
		h.must(200, "GET", "/v1/runs/"+id, nil)
		h.must(200, "GET", "/v1/runs/"+id+"/events", nil)
		h.must(200, "GET", "/v1/runs/"+id+"/logs", nil)
	}
	h.must(200, "GET", "/v1/runs/"+succeeded.ID+"/logs?limit=1&tail=1&search=out&since=1h&until=2099-01-01T00:00:00Z", nil)
	h.must(404, "GET", "/v1/runs/run_nope", nil)
	h.must(404, "GET", "/v1/runs/run_nope/events", nil)
	h.must(404, "GET", "/v1/runs/run_nope/logs", nil)
	h.must(400, "GET", "/v1/runs/"+succeeded.ID+"/logs?limit=0", nil)

	h.must(200, "GET", "/v1/runs", nil)
	h.must(200, "GET", "/v1/runs?status=succeeded&status=FAILED,stopped&cluster=default&definition=ok&owner=alice&tag=team:data&since=1h&until=2099-01-01T00:00:00Z&limit=2", nil)
	h.must(400, "GET", "/v1/runs?status=DONE", nil)

	for _, g := range []string{"", "owner", "definition", "cluster"} {
		var report struct {
			Items []struct{ Runs int } `json:"items"`
		}
		h.must(200, "GET", "/v1/costs?since=1h&group_by="+g, nil).into(t, &report)
		if len(report.Items) == 0 {
			t.Errorf("costs by %q: no items", g)
		}
	}
	h.must(400, "GET", "/v1/costs?group_by=team", nil)
	h.must(200, "GET", "/v1/clusters", nil)

	// Every route that needs a caller answers 401 without one.
	anon := setup(t, options{noConsume: true, owner: func(*http.Request) (string, error) { return "", errors.New("no token") }})
	for _, rt := range api.Routes() {
		method, pattern, _ := strings.Cut(rt, " ")
		path := strings.NewReplacer("{ref}", "ok", "{n}", "1", "{id}", "run_x").Replace(pattern)
		r := anon.do(method, path, nil)
		want := 401
		if path == "/v1/health" || path == "/v1/openapi.json" {
			want = 200
		}
		if r.status != want {
			t.Errorf("%s without a caller: %s, want %d", rt, r, want)
		}
	}

	// Wrong methods and unknown paths.
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/v1/definitions", "POST, GET"},
		{"POST", "/v1/definitions/ok", "GET, PATCH, DELETE"},
		{"GET", "/v1/runs/x/stop", "POST"},
		{"DELETE", "/v1/health", "GET"},
	} {
		r := h.must(405, c.method, c.path, nil)
		if a := r.header.Get("Allow"); a != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, a, c.allow)
		}
	}
	h.must(404, "GET", "/v1/nothing", nil)
	h.must(404, "GET", "/v1/runs/x/y/z", nil)

	// Every documented status of every served operation was answered.
	for path, item := range spec.paths() {
		for method, v := range item {
			op, ok := v.(map[string]any)
			if !ok || conditional(op) || !slices.Contains(httpMethods, strings.ToUpper(method)) {
				continue
			}
			for code := range op["responses"].(map[string]any) {
				key := strings.ToUpper(method) + " " + path + " " + code
				if code == "500" {
					continue
				}
				spec.seenMu.Lock()
				seen := spec.seen[key]
				spec.seenMu.Unlock()
				if !seen {
					t.Errorf("documented but never answered: %s", key)
				}
			}
		}
	}
}

// oversized is a definition body just over the 1 MiB limit.
func oversized() string {
	return `{"alias":"big","image":"alpine","cpu":256,"memory":512,"command":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`
}

func waitStatus(t *testing.T, h *harness, id string, want flotilla.RunStatus) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := h.getRun(id)
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) || r.Status.Terminal() {
			t.Fatalf("run %s is %s (%s), want %s", id, r.Status, r.StatusReason, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
