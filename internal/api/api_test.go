package api_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestBadInputWritesNothing sends each kind of bad request and checks the
// problem document (status, Content-Type via the harness, the fields it
// names) and that the store is exactly as it was.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	def := h.createDefinition("base", "echo hi")
	h.createDefinition("other", "echo other")
	queued := h.launch("base", parkedCluster)
	stopped := h.launch("base", parkedCluster)
	h.must(202, "POST", "/v1/runs/"+stopped.ID+"/stop", nil)

	valid := `"alias":"new","image":"alpine:3","command":"true","cpu":256,"memory":512`
	long := strings.Repeat("k", 129)
	cases := []struct {
		name         string
		method, path string
		body         string
		status       int
		fields       []string // errors[].field, in order; nil: none expected
	}{
		// POST /v1/definitions
		{"empty body", "POST", "/v1/definitions", ``, 400, []string{"body"}},
		{"invalid JSON", "POST", "/v1/definitions", `{"alias":`, 400, []string{"body"}},
		{"not JSON", "POST", "/v1/definitions", `alias=new`, 400, []string{"body"}},
		{"JSON array", "POST", "/v1/definitions", `[]`, 400, []string{"body"}},
		{"JSON null", "POST", "/v1/definitions", `null`, 400, []string{"alias", "command", "cpu", "image", "memory"}},
		{"trailing data", "POST", "/v1/definitions", `{` + valid + `}{}`, 400, []string{"body"}},
		{"trailing garbage", "POST", "/v1/definitions", `{` + valid + `} x`, 400, []string{"body"}},
		{"unknown field", "POST", "/v1/definitions", `{` + valid + `,"colour":"red"}`, 400, []string{"colour"}},
		{"owner is not settable", "POST", "/v1/definitions", `{` + valid + `,"owner":"mallory"}`, 400, []string{"owner"}},
		{"id is not settable", "POST", "/v1/definitions", `{` + valid + `,"definition_id":"def_x"}`, 400, []string{"definition_id"}},
		{"wrong type", "POST", "/v1/definitions", `{"alias":"new","image":"alpine","command":"true","cpu":"lots","memory":512}`, 400, []string{"cpu"}},
		{"fraction", "POST", "/v1/definitions", `{"alias":"new","image":"alpine","command":"true","cpu":256.5,"memory":512}`, 400, []string{"cpu"}},
		{"nested wrong type", "POST", "/v1/definitions", `{` + valid + `,"retry":{"max_attempts":"3"}}`, 400, []string{"retry.max_attempts"}},
		{"env value not a string", "POST", "/v1/definitions", `{` + valid + `,"env":{"A":1}}`, 400, []string{"env"}},
		{"tags not an array", "POST", "/v1/definitions", `{` + valid + `,"tags":"a,b"}`, 400, []string{"tags"}},
		{"missing fields", "POST", "/v1/definitions", `{}`, 400, []string{"alias", "command", "cpu", "image", "memory"}},
		{"bad values", "POST", "/v1/definitions", `{"alias":"def_x","group_name":"-g","image":"al pine","command":" ","cpu":1,"memory":1000000,"gpu":9,
			"timeout_seconds":-1,"retry":{"max_attempts":11},"env":{"1A":"x","FLOTILLA_ID":"y"},"tags":["-bad"]}`, 400,
			[]string{"alias", "command", "cpu", "env.1A", "env.FLOTILLA_ID", "gpu", "group_name", "image", "memory", "retry.max_attempts", "tags", "timeout_seconds"}},
		{"taken alias", "POST", "/v1/definitions", `{"alias":"base","image":"alpine","command":"true","cpu":256,"memory":512}`, 409, []string{"alias"}},
		{"oversized body", "POST", "/v1/definitions", oversized(), 413, []string{"body"}},
		{"oversized whitespace after the object", "POST", "/v1/definitions", `{` + valid + `}` + strings.Repeat(" ", 1<<20), 413, []string{"body"}},

		// PATCH /v1/definitions/{ref}
		{"patch invalid JSON", "PATCH", "/v1/definitions/base", `{"cpu":`, 400, []string{"body"}},
		{"patch unknown field", "PATCH", "/v1/definitions/base", `{"revision":7}`, 400, []string{"revision"}},
		{"patch wrong type", "PATCH", "/v1/definitions/base", `{"memory":"1G"}`, 400, []string{"memory"}},
		{"patch bad value", "PATCH", "/v1/definitions/base", `{"cpu":99999,"image":""}`, 400, []string{"cpu", "image"}},
		{"patch taken alias", "PATCH", "/v1/definitions/base", `{"alias":"other"}`, 409, []string{"alias"}},
		{"patch unknown definition", "PATCH", "/v1/definitions/nope", `{"cpu":512}`, 404, nil},
		{"patch oversized", "PATCH", "/v1/definitions/base", oversized(), 413, []string{"body"}},

		// POST /v1/runs
		{"launch empty", "POST", "/v1/runs", `{}`, 400, []string{"definition"}},
		{"launch invalid JSON", "POST", "/v1/runs", `{"definition":"base"`, 400, []string{"body"}},
		{"launch unknown field", "POST", "/v1/runs", `{"definition":"base","owner":"mallory"}`, 400, []string{"owner"}},
		{"launch schedule_id not settable", "POST", "/v1/runs", `{"definition":"base","ScheduleID":"sch_x"}`, 400, []string{"ScheduleID"}},
		{"launch wrong type", "POST", "/v1/runs", `{"definition":"base","cpu":"big"}`, 400, []string{"cpu"}},
		{"launch definition not a string", "POST", "/v1/runs", `{"definition":42}`, 400, []string{"definition"}},
		{"launch unknown definition", "POST", "/v1/runs", `{"definition":"nope","cluster":"parked"}`, 400, []string{"definition"}},
		{"launch unknown cluster", "POST", "/v1/runs", `{"definition":"base","cluster":"mars"}`, 400, []string{"cluster"}},
		{"launch bad overrides", "POST", "/v1/runs", `{"definition":"base","cluster":"parked","cpu":4,"memory":100000000,"command":"","timeout_seconds":-5,"env":{"bad-name":"x"},"tags":[" "]}`, 400,
			[]string{"command", "cpu", "env.bad-name", "memory", "tags", "timeout_seconds"}},
		{"launch long idempotency key", "POST", "/v1/runs", `{"definition":"base","cluster":"parked","idempotency_key":"` + long + `"}`, 400, []string{"idempotency_key"}},
		{"launch oversized", "POST", "/v1/runs", `{"definition":"base","command":"` + strings.Repeat("x", 5<<20) + `"}`, 413, []string{"body"}},

		// Reads with bad parameters.
		{"revision not a number", "GET", "/v1/definitions/base/revisions/one", ``, 400, []string{"n"}},
		{"revision zero", "GET", "/v1/definitions/base/revisions/0", ``, 400, []string{"n"}},
		{"revision missing", "GET", "/v1/definitions/base/revisions/2", ``, 404, nil},
		{"unknown definition", "GET", "/v1/definitions/nope", ``, 404, nil},
		{"definitions limit", "GET", "/v1/definitions?limit=501", ``, 400, []string{"limit"}},
		{"definitions token", "GET", "/v1/definitions?next_token=%25%25", ``, 400, []string{"next_token"}},
		{"runs status", "GET", "/v1/runs?status=RUNNING,DONE", ``, 400, []string{"status"}},
		{"runs limit", "GET", "/v1/runs?limit=ten", ``, 400, []string{"limit"}},
		{"runs times", "GET", "/v1/runs?since=yesterday&until=-1h", ``, 400, []string{"since", "until"}},
		{"runs every bad filter", "GET", "/v1/runs?status=x&limit=0&since=x&until=x&definition=nope", ``, 400, []string{"definition", "limit", "since", "status", "until"}},
		{"runs token", "GET", "/v1/runs?next_token=!!", ``, 400, []string{"next_token"}},
		{"unknown run", "GET", "/v1/runs/run_nope", ``, 404, nil},
		{"logs limit", "GET", "/v1/runs/" + queued.ID + "/logs?limit=10001&tail=0", ``, 400, []string{"limit", "tail"}},
		{"logs times", "GET", "/v1/runs/" + queued.ID + "/logs?since=soon", ``, 400, []string{"since"}},
		{"logs token", "GET", "/v1/runs/" + queued.ID + "/logs?next_token=bm9wZQ", ``, 400, []string{"next_token"}},
		{"logs unknown run", "GET", "/v1/runs/run_nope/logs", ``, 404, nil},
		{"events unknown run", "GET", "/v1/runs/run_nope/events", ``, 404, nil},
		{"costs group", "GET", "/v1/costs?group_by=team&since=x", ``, 400, []string{"group_by", "since"}},

		// Writes to missing or finished things.
		{"stop unknown run", "POST", "/v1/runs/run_nope/stop", ``, 404, nil},
		{"stop finished run", "POST", "/v1/runs/" + stopped.ID + "/stop", ``, 409, nil},
		{"delete unknown definition", "DELETE", "/v1/definitions/nope", ``, 404, nil},
		{"wrong method", "PUT", "/v1/definitions/base", `{}`, 405, nil},
	}
	before := h.snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := *h
			h.t = t
			var body any
			if c.body != "" {
				body = c.body
			}
			r := h.do(c.method, c.path, body)
			if r.status != c.status {
				t.Fatalf("got %s, want %d", r, c.status)
			}
			p := r.problem(t)
			if p.Status != c.status || p.Title == "" || p.Type == "" {
				t.Errorf("problem %+v", p)
			}
			if got := r.fields(t); !slices.Equal(got, c.fields) {
				t.Errorf("fields %q, want %q (%s)", got, c.fields, r)
			}
			for _, f := range p.Errors {
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			if after := h.snapshot(); after != before {
				t.Errorf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if got := h.getRun(queued.ID); got.Status != flotilla.StatusQueued {
		t.Errorf("queued run is %s", got.Status)
	}
	if d := h.must(200, "GET", "/v1/definitions/base", nil); !strings.Contains(string(d.body), `"revision":1`) {
		t.Errorf("base was revised: %s", d)
	}
	_ = def
}

// TestConcurrentLaunches launches from many goroutines at once: with one
// idempotency key exactly one run is created and every caller gets it;
// without keys every caller gets its own run.
func TestConcurrentLaunches(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	h.createDefinition("job", "true")
	const n = 50

	type result struct {
		status int
		id     string
	}
	launchAll := func(key string) []result {
		out := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				body := map[string]any{"definition": "job", "cluster": parkedCluster}
				if key != "" {
					body["idempotency_key"] = key
				}
				r := h.do("POST", "/v1/runs", body)
				var run flotilla.Run
				if r.status == 200 || r.status == 202 {
					r.into(t, &run)
				}
				out[i] = result{r.status, run.ID}
			})
		}
		wg.Wait()
		return out
	}

	same := launchAll("nightly-2026-11-26")
	created, replayed := 0, 0
	for _, r := range same {
		switch r.status {
		case 202:
			created++
		case 200:
			replayed++
		default:
			t.Errorf("same key: status %d", r.status)
		}
		if r.id != same[0].id {
			t.Errorf("same key: runs %s and %s", r.id, same[0].id)
		}
	}
	if created != 1 || replayed != n-1 {
		t.Errorf("same key: %d created, %d replayed; want 1 and %d", created, replayed, n-1)
	}

	distinct := launchAll("")
	ids := map[string]bool{}
	for _, r := range distinct {
		if r.status != 202 {
			t.Errorf("no key: status %d", r.status)
		}
		ids[r.id] = true
	}
	if len(ids) != n {
		t.Errorf("no key: %d distinct runs, want %d", len(ids), n)
	}

	page, err := h.store.ListRuns(context.Background(), flotilla.RunFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != n+1 {
		t.Errorf("store holds %d runs, want %d", len(page.Items), n+1)
	}
	u, err := h.store.ClusterUsage(context.Background(), parkedCluster)
	if err != nil {
		t.Fatal(err)
	}
	if u.Queued != n+1 {
		t.Errorf("parked cluster: %d queued, want %d", u.Queued, n+1)
	}
}

// TestStopsRaceStarts stops runs while they are dispatched, started and
// finished. A stop that was accepted ends the run STOPPED — or SUCCEEDED
// when the job had already exited on its own before the stop reached it
// (its own end came first; issue 13); a stop that came too late is a 409
// on a run that SUCCEEDED. Every run ends exactly once, and every slot is
// given back.
func TestStopsRaceStarts(t *testing.T) {
	t.Parallel()
	h := setup(t, options{maxRunning: 3})
	h.createDefinition("quick", "sleep 0.05")
	const n = 24
	runsByID := make([]string, n)
	stopStatus := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			run := h.launch("quick", defaultCluster)
			runsByID[i] = run.ID
			time.Sleep(time.Duration(i) * 40 * time.Millisecond) // from before dispatch to after the end
			r := h.do("POST", "/v1/runs/"+run.ID+"/stop", nil)
			stopStatus[i] = r.status
		})
	}
	wg.Wait()
	stops := map[flotilla.RunStatus]int{}
	for i, id := range runsByID {
		run := h.waitEnded(id)
		stops[run.Status]++
		switch stopStatus[i] {
		case 202:
			ownEnd := run.Status == flotilla.StatusSucceeded && run.ExitCode != nil && *run.ExitCode == 0
			if run.Status != flotilla.StatusStopped && !ownEnd {
				t.Errorf("run %s: stop accepted, but it ended %s (%s)", id, run.Status, run.StatusReason)
			}
		case 409:
			if run.Status != flotilla.StatusSucceeded {
				t.Errorf("run %s: stop refused, but it ended %s", id, run.Status)
			}
		default:
			t.Errorf("run %s: stop answered %d", id, stopStatus[i])
		}
		evs, err := h.store.ListRunEvents(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		ends := 0
		for _, ev := range evs {
			if ev.To.Terminal() {
				ends++
			}
		}
		if ends != 1 || evs[len(evs)-1].To != run.Status {
			t.Errorf("run %s ended %d times; last event %+v, status %s", id, ends, evs[len(evs)-1], run.Status)
		}
	}
	t.Logf("ended: %v", stops)
	if stops[flotilla.StatusStopped] == 0 {
		t.Errorf("no stop landed on a running job, so this test proved nothing: %v", stops)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := h.store.ClusterUsage(context.Background(), defaultCluster)
		if err != nil {
			t.Fatal(err)
		}
		if u.Running == 0 && u.Queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots not given back: %+v", u)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPatchRevisions: a change makes a new revision and the old ones stay
// readable; a patch that changes nothing makes none.
func TestPatchRevisions(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	d := h.createDefinition("etl", "echo v1")

	var v2 flotilla.Definition
	h.must(200, "PATCH", "/v1/definitions/etl", map[string]any{"command": "echo v2", "cpu": 512}).into(t, &v2)
	if v2.Revision != 2 || v2.Command != "echo v2" || v2.CPU != 512 || v2.Memory != d.Memory || v2.ID != d.ID || !v2.CreatedAt.Equal(d.CreatedAt) {
		t.Errorf("revision 2: %+v", v2)
	}
	for _, noop := range []any{
		map[string]any{},
		map[string]any{"command": "echo v2"},
		map[string]any{"tags": []string{"team:data", "team:data"}, "env": map[string]string{"GREETING": "hi"}},
		map[string]any{"alias": nil, "retry": map[string]int{"max_attempts": 3}},
	} {
		var same flotilla.Definition
		h.must(200, "PATCH", "/v1/definitions/"+d.ID, noop).into(t, &same)
		if same.Revision != 2 || !same.UpdatedAt.Equal(v2.UpdatedAt) {
			t.Errorf("no-op patch %v made revision %d", noop, same.Revision)
		}
	}
	h.must(404, "GET", "/v1/definitions/etl/revisions/3", nil)

	var v3 flotilla.Definition
	h.must(200, "PATCH", "/v1/definitions/etl", map[string]any{"alias": "etl2", "env": map[string]string{}}).into(t, &v3)
	if v3.Revision != 3 || v3.Alias != "etl2" || len(v3.Env) != 0 {
		t.Errorf("revision 3: %+v", v3)
	}
	h.must(404, "GET", "/v1/definitions/etl", nil)
	for n, want := range map[int]string{1: "echo v1", 2: "echo v2", 3: "echo v2"} {
		var old flotilla.Definition
		h.must(200, "GET", fmt.Sprintf("/v1/definitions/%s/revisions/%d", d.ID, n), nil).into(t, &old)
		if old.Revision != n || old.Command != want {
			t.Errorf("revision %d: %+v", n, old)
		}
	}
	var old flotilla.Definition
	h.must(200, "GET", "/v1/definitions/etl2/revisions/1", nil).into(t, &old)
	if old.Alias != "etl" || old.CPU != 256 {
		t.Errorf("revision 1 by the new alias: %+v", old)
	}

	// A run snapshots the revision it was launched from.
	run := h.launch("etl2", parkedCluster)
	if run.Revision != 3 || run.CPU != 512 {
		t.Errorf("run of revision 3: %+v", run)
	}
	h.must(204, "DELETE", "/v1/definitions/etl2", nil)
	h.must(404, "GET", "/v1/definitions/"+d.ID+"/revisions/1", nil)
	h.must(200, "GET", "/v1/runs/"+run.ID, nil)
	var byDeleted flotilla.Page[flotilla.Run]
	h.must(200, "GET", "/v1/runs?definition="+d.ID, nil).into(t, &byDeleted)
	if len(byDeleted.Items) != 1 {
		t.Errorf("runs of a deleted definition by id: %d", len(byDeleted.Items))
	}
}

// TestListRunsFilters checks each filter of GET /v1/runs and paging.
func TestListRunsFilters(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	h.createDefinition("a", "true")
	h.createDefinition("b", "true")
	var all []flotilla.Run
	for i := range 5 {
		alias := "a"
		if i%2 == 1 {
			alias = "b"
		}
		var r flotilla.Run
		h.must(202, "POST", "/v1/runs", map[string]any{"definition": alias, "cluster": parkedCluster, "tags": []string{fmt.Sprintf("n%d", i)}}).into(t, &r)
		all = append(all, r)
	}
	h.must(202, "POST", "/v1/runs/"+all[0].ID+"/stop", nil)
	cutoff := all[2].QueuedAt

	list := func(query string) []string {
		t.Helper()
		var page flotilla.Page[flotilla.Run]
		h.must(200, "GET", "/v1/runs?"+query, nil).into(t, &page)
		var ids []string
		for _, r := range page.Items {
			ids = append(ids, r.ID)
		}
		return ids
	}
	ids := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, all[i].ID)
		}
		return out
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", ids(4, 3, 2, 1, 0)},
		{"status=stopped", ids(0)},
		{"status=QUEUED", ids(4, 3, 2, 1)},
		{"status=queued,stopped", ids(4, 3, 2, 1, 0)},
		{"status=RUNNING&status=STOPPED", ids(0)},
		{"definition=b", ids(3, 1)},
		{"definition=" + all[0].DefinitionID, ids(4, 2, 0)},
		{"definition=a&status=QUEUED", ids(4, 2)},
		{"cluster=parked", ids(4, 3, 2, 1, 0)},
		{"cluster=default", nil},
		{"owner=alice", ids(4, 3, 2, 1, 0)},
		{"owner=bob", nil},
		{"tag=n3", ids(3)},
		{"tag=team:data", ids(4, 3, 2, 1, 0)},
		{"since=" + url.QueryEscape(cutoff.Format(time.RFC3339Nano)), ids(4, 3, 2)},
		{"until=" + url.QueryEscape(cutoff.Format(time.RFC3339Nano)), ids(1, 0)},
		{"since=1h", ids(4, 3, 2, 1, 0)},
		{"until=1h", nil},
	} {
		if got := list(c.query); !slices.Equal(got, c.want) {
			t.Errorf("?%s: %v, want %v", c.query, got, c.want)
		}
	}

	// Paging: every run once, newest first, no next_token on the last page.
	var seen []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		var page flotilla.Page[flotilla.Run]
		h.must(200, "GET", "/v1/runs?limit=2&next_token="+url.QueryEscape(token), nil).into(t, &page)
		for _, r := range page.Items {
			seen = append(seen, r.ID)
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if !slices.Equal(seen, ids(4, 3, 2, 1, 0)) {
		t.Errorf("pages: %v", seen)
	}
}

// TestLogsComplete: complete is false while the run goes on, and once it
// ended, true only on the page that returns its last line.
func TestLogsComplete(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	gate := filepath.Join(t.TempDir(), "go")
	h.must(201, "POST", "/v1/definitions", map[string]any{"alias": "talk", "image": "alpine:3", "cpu": 256, "memory": 512,
		"command": `echo one; echo two; while [ ! -e "$GATE" ]; do sleep 0.01; done; echo three`, "env": map[string]string{"GATE": gate}})
	run := h.launch("talk", defaultCluster)

	type logPage struct {
		Events []struct {
			Timestamp time.Time `json:"timestamp"`
			Message   string    `json:"message"`
		} `json:"events"`
		NextToken string `json:"next_token"`
		Complete  bool   `json:"complete"`
	}
	read := func(query string) logPage {
		t.Helper()
		var p logPage
		h.must(200, "GET", "/v1/runs/"+run.ID+"/logs?"+query, nil).into(t, &p)
		return p
	}
	// Running: every line so far is read, but the run goes on.
	deadline := time.Now().Add(20 * time.Second)
	var p logPage
	for {
		p = read("")
		if len(p.Events) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs: %+v", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Complete {
		t.Error("complete while the run is running")
	}
	if r := h.getRun(run.ID); r.Status.Terminal() {
		t.Fatalf("run already %s", r.Status)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitEnded(run.ID)

	var lines []string
	token := ""
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("logs do not end")
		}
		p := read("limit=1&next_token=" + url.QueryEscape(token))
		for _, e := range p.Events {
			lines = append(lines, e.Message)
		}
		if p.Complete {
			if len(p.Events) == 0 && len(lines) < 3 {
				t.Errorf("complete before the last line")
			}
			break
		}
		token = p.NextToken
	}
	if !slices.Equal(lines, []string{"one", "two", "three"}) {
		t.Errorf("lines %q", lines)
	}
	// From the token after the last line: nothing more, and complete.
	if p := read("next_token=" + url.QueryEscape(token)); len(p.Events) != 1 || !p.Complete {
		t.Errorf("last page again: %+v", p)
	}
}

// TestConcurrentDefinitionWrites: of many creates with one alias exactly
// one wins and the rest are 409s naming alias; concurrent patches either
// make the next revision or lose with a 409, and no revision is skipped
// or written twice.
func TestConcurrentDefinitionWrites(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := h.do("POST", "/v1/definitions", map[string]any{"alias": "race", "image": "alpine", "command": fmt.Sprintf("echo %d", i), "cpu": 256, "memory": 512})
			statuses[i] = r.status
			if r.status == 409 && !slices.Equal(r.fields(t), []string{"alias"}) {
				t.Errorf("taken alias: %s", r)
			}
		})
	}
	wg.Wait()
	if slices.Sort(statuses); statuses[0] != 201 || statuses[1] != 409 || statuses[n-1] != 409 {
		t.Errorf("creates with one alias: %v", statuses)
	}

	won := 0
	var mu sync.Mutex
	for i := range n {
		wg.Go(func() {
			r := h.do("PATCH", "/v1/definitions/race", map[string]any{"cpu": 256 * (i%4 + 2), "command": fmt.Sprintf("echo patch %d", i)})
			switch r.status {
			case 200:
				mu.Lock()
				won++
				mu.Unlock()
			case 409:
				if len(r.problem(t).Errors) != 0 {
					t.Errorf("a lost update race blames a field: %s", r)
				}
			default:
				t.Errorf("patch: %s", r)
			}
		})
	}
	wg.Wait()
	var d flotilla.Definition
	h.must(200, "GET", "/v1/definitions/race", nil).into(t, &d)
	if d.Revision != 1+won {
		t.Errorf("revision %d after %d successful patches", d.Revision, won)
	}
	for rev := 1; rev <= d.Revision; rev++ {
		h.must(200, "GET", fmt.Sprintf("/v1/definitions/race/revisions/%d", rev), nil)
	}
	h.must(404, "GET", fmt.Sprintf("/v1/definitions/race/revisions/%d", d.Revision+1), nil)
}
