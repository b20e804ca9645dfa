package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The clusters of every test server: "default" dispatches and runs host
// processes; "parked" has no consumer, so its runs stay QUEUED (tests use it
// for a store that does not move under them).
const (
	defaultCluster = "default"
	parkedCluster  = "parked"
	owner          = "alice"
)

// harness is a real API server on the embedded adapters, wired as
// `flotilla serve` wires it, behind httptest. Every response it receives is
// checked against openapi.json.
type harness struct {
	t     testing.TB
	url   string
	h     http.Handler
	store *embedded.Store
	svc   *runs.Service
	// caller and admin, when set, are who the next requests come from.
	caller string
	admin  bool
}

// The harness's own headers naming the caller (the test's resolvers read
// them; the real ones read a token).
const (
	testCaller = "X-Test-Caller"
	testAdmin  = "X-Test-Admin"
)

// as makes the next requests come from caller (an admin when admin).
func (h *harness) as(caller string, admin bool) *harness {
	c := *h
	c.caller, c.admin = caller, admin
	return &c
}

type options struct {
	// noConsume leaves even the default cluster without a consumer.
	noConsume bool
	// owner overrides the caller resolver.
	owner func(*http.Request) (string, error)
	// maxRunning is the default cluster's limit (default 4).
	maxRunning int
	// schedules, when set, is the API's schedule service.
	schedules api.ScheduleService
}

func setup(t testing.TB, opt options) *harness {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := embedded.OpenDB(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if opt.maxRunning == 0 {
		opt.maxRunning = 4
	}
	names := []string{defaultCluster, parkedCluster}
	svc := &runs.Service{
		Store: embedded.NewStore(db),
		Queue: embedded.NewQueue(db, names, 0),
		Logs:  embedded.NewLogReader(dir),
		Clusters: map[string]flotilla.Cluster{
			defaultCluster: {Name: defaultCluster, MaxRunning: opt.maxRunning, LaunchType: flotilla.EngineLocal},
			parkedCluster:  {Name: parkedCluster, MaxRunning: 1, LaunchType: flotilla.EngineLocal},
		},
		DefaultCluster: defaultCluster,
	}
	executor := embedded.NewExecutor(dir, false, func(ev flotilla.TaskEvent) {
		if err := svc.Reconcile(context.WithoutCancel(ctx), ev); err != nil {
			t.Logf("reconcile %s: %v", ev.RunID, err)
		}
	}, nil)
	executor.StopGrace = time.Second
	svc.Executor = executor
	var loops sync.WaitGroup
	if !opt.noConsume {
		loops.Go(func() { svc.Consume(ctx, defaultCluster) })
	}
	if opt.owner == nil {
		// The caller is alice, or whom the test names (harness.as).
		opt.owner = func(r *http.Request) (string, error) {
			if c := r.Header.Get(testCaller); c != "" {
				return c, nil
			}
			return owner, nil
		}
	}
	handler := api.NewServer(api.Deps{Runs: svc, Store: svc.Store, Logs: svc.Logs, Owner: opt.owner, Schedules: opt.schedules,
		IsAdmin: func(r *http.Request) bool { return r.Header.Get(testAdmin) == "1" }, AdminGroup: "flotilla-admins"})
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		loops.Wait()
		executor.Close()
		db.Close()
	})
	return &harness{t: t, url: srv.URL, h: handler, store: svc.Store.(*embedded.Store), svc: svc}
}

// response is one checked answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// into decodes the body into v.
func (r response) into(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem document.
func (r response) problem(t testing.TB) api.Problem {
	t.Helper()
	var p api.Problem
	r.into(t, &p)
	return p
}

// fields lists the problem's errors[].field.
func (r response) fields(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, f := range r.problem(t).Errors {
		out = append(out, f.Field)
	}
	return out
}

// do sends a request and checks the response against the document: its
// status is documented for the route, its Content-Type is the documented
// one and its body is valid against the documented schema. body is sent
// as is when it is a string or []byte, else as JSON.
func (h *harness) do(method, path string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.caller != "" {
		req.Header.Set(testCaller, h.caller)
	}
	if h.admin {
		req.Header.Set(testAdmin, "1")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	r := response{status: res.StatusCode, header: res.Header, body: b}
	if err := spec.check(req, r); err != nil {
		h.t.Errorf("%s %s → %d: %v\nbody: %s", method, path, r.status, err, b)
	}
	return r
}

// must is do that fails the test unless the status is want.
func (h *harness) must(want int, method, path string, body any) response {
	h.t.Helper()
	r := h.do(method, path, body)
	if r.status != want {
		h.t.Fatalf("%s %s: got %s, want %d", method, path, r, want)
	}
	return r
}

// createDefinition creates a definition running command and returns it.
func (h *harness) createDefinition(alias, command string) flotilla.Definition {
	h.t.Helper()
	var d flotilla.Definition
	h.must(201, "POST", "/v1/definitions", map[string]any{"alias": alias, "image": "alpine:3", "command": command,
		"cpu": 256, "memory": 512, "env": map[string]string{"GREETING": "hi"}, "tags": []string{"team:data"}}).into(h.t, &d)
	return d
}

// launch launches a run of def on cluster.
func (h *harness) launch(def, cluster string) flotilla.Run {
	h.t.Helper()
	var r flotilla.Run
	h.must(202, "POST", "/v1/runs", map[string]any{"definition": def, "cluster": cluster}).into(h.t, &r)
	return r
}

// getRun reads a run straight from the store.
func (h *harness) getRun(id string) flotilla.Run {
	h.t.Helper()
	r, err := h.store.GetRun(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// waitEnded waits until the run is terminal.
func (h *harness) waitEnded(id string) flotilla.Run {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := h.getRun(id)
		if r.Status.Terminal() {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("run %s still %s (%s)", id, r.Status, r.StatusReason)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// snapshot is everything the store holds that a request could change.
func (h *harness) snapshot() string {
	h.t.Helper()
	ctx := context.Background()
	var sb strings.Builder
	defs, err := h.store.ListDefinitions(ctx, flotilla.DefinitionFilter{Limit: 500})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, d := range defs.Items {
		for n := 1; n <= d.Revision+1; n++ {
			rev, err := h.store.GetDefinitionRevision(ctx, d.ID, n)
			fmt.Fprintf(&sb, "def %s rev %d: %+v %v\n", d.ID, n, rev, err)
		}
	}
	rs, err := h.store.ListRuns(ctx, flotilla.RunFilter{Limit: 500})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rs.Items {
		evs, err := h.store.ListRunEvents(ctx, r.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		j, _ := json.Marshal(r)
		fmt.Fprintf(&sb, "run %s\nevents %d\n", j, len(evs))
	}
	for _, c := range []string{defaultCluster, parkedCluster} {
		u, err := h.store.ClusterUsage(ctx, c)
		if err != nil {
			h.t.Fatal(err)
		}
		fmt.Fprintf(&sb, "cluster %s: %d queued %d running\n", c, u.Queued, u.Running)
	}
	return sb.String()
}

// --- the document ---

// openAPI is openapi.json, loaded once, with its response schemas compiled
// on demand.
type openAPI struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
	routes   *http.ServeMux // documented operations, to find a request's

	seenMu sync.Mutex
	seen   map[string]bool // "METHOD pattern status" answered by the server
}

const docURL = "file:///flotilla/openapi.json"

var spec = loadSpec()

func loadSpec() *openAPI {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		panic(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		panic(fmt.Sprintf("openapi.json: %v", err))
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, inst); err != nil {
		panic(err)
	}
	o := &openAPI{doc: inst.(map[string]any), compiler: c, compiled: map[string]*jsonschema.Schema{},
		routes: http.NewServeMux(), seen: map[string]bool{}}
	for path, item := range o.paths() {
		for method := range item {
			if m := strings.ToUpper(method); slices.Contains(httpMethods, m) {
				o.routes.Handle(m+" "+path, http.NotFoundHandler())
			}
		}
	}
	return o
}

var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func (o *openAPI) paths() map[string]map[string]any {
	out := map[string]map[string]any{}
	for p, item := range o.doc["paths"].(map[string]any) {
		out[p] = item.(map[string]any)
	}
	return out
}

// operation returns the documented operation for method and path pattern.
func (o *openAPI) operation(method, pattern string) (map[string]any, bool) {
	item, ok := o.paths()[pattern]
	if !ok {
		return nil, false
	}
	op, ok := item[strings.ToLower(method)].(map[string]any)
	return op, ok
}

// schema compiles the schema at a JSON pointer into the document.
func (o *openAPI) schema(pointer string) (*jsonschema.Schema, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.compiled[pointer]; ok {
		return s, nil
	}
	s, err := o.compiler.Compile(docURL + "#" + pointer)
	if err != nil {
		return nil, err
	}
	o.compiled[pointer] = s
	return s, nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// response finds the documented response for an operation and status,
// following a $ref into components/responses, and its JSON pointer.
func (o *openAPI) response(method, pattern string, status int) (map[string]any, string, bool) {
	op, ok := o.operation(method, pattern)
	if !ok {
		return nil, "", false
	}
	code := strconv.Itoa(status)
	res, ok := op["responses"].(map[string]any)[code].(map[string]any)
	if !ok {
		return nil, "", false
	}
	ptr := "/paths/" + escapePointer(pattern) + "/" + strings.ToLower(method) + "/responses/" + code
	if ref, ok := res["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		name := strings.TrimPrefix(ref, "#/components/responses/")
		res = o.doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
	}
	return res, ptr, true
}

// validate checks body against the schema at pointer.
func (o *openAPI) validate(pointer string, body []byte) error {
	s, err := o.schema(pointer)
	if err != nil {
		return fmt.Errorf("compile %s: %w", pointer, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("body does not match %s: %v", pointer, err)
	}
	return nil
}

// check validates one exchange against the document.
func (o *openAPI) check(req *http.Request, r response) error {
	_, pattern := o.routes.Handler(req)
	ct := r.header.Get("Content-Type")
	if pattern == "" {
		// Not a documented operation: an unknown path (404) or a wrong
		// method (405) — both problem documents.
		if r.status != 404 && r.status != 405 {
			return fmt.Errorf("undocumented operation answered %d", r.status)
		}
		if r.status == 405 && r.header.Get("Allow") == "" {
			return fmt.Errorf("405 without an Allow header")
		}
		if ct != "application/problem+json" {
			return fmt.Errorf("Content-Type %q, want application/problem+json", ct)
		}
		return o.validate("/components/schemas/Problem", r.body)
	}
	method, path, _ := strings.Cut(pattern, " ")
	o.seenMu.Lock()
	o.seen[fmt.Sprintf("%s %s %d", method, path, r.status)] = true
	o.seenMu.Unlock()
	res, ptr, ok := o.response(method, path, r.status)
	if !ok {
		return fmt.Errorf("status %d is not documented for %s", r.status, pattern)
	}
	content, _ := res["content"].(map[string]any)
	if len(content) == 0 {
		if len(r.body) != 0 {
			return fmt.Errorf("documented without a body, but the body is %q", r.body)
		}
		return nil
	}
	media := strings.TrimSpace(strings.Split(ct, ";")[0])
	if _, ok := content[media]; !ok {
		return fmt.Errorf("Content-Type %q is not documented (%v)", ct, keys(content))
	}
	if req.Method == "HEAD" {
		return nil // the headers of a GET, without its body
	}
	return o.validate(ptr+"/content/"+escapePointer(media)+"/schema", r.body)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// serve sends a request straight to the handler (no network: for fuzzing)
// and checks the response like do does.
func (h *harness) serve(t testing.TB, method, path string, body []byte) response {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if err := spec.check(req, r); err != nil {
		t.Errorf("%s %s → %d: %v\nbody: %s", method, path, r.status, err, r.body)
	}
	return r
}
