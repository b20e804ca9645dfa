package schedules_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

type client struct {
	t    *testing.T
	base string
	spec *jsonschema.Compiler
}

func newClient(t *testing.T, base string) client {
	c := client{t: t, base: base}
	// The schemas of the OpenAPI document the server serves: every
	// schedule answer must match them.
	_, _, doc := c.do("GET", "/v1/openapi.json", "")
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	c.spec = jsonschema.NewCompiler()
	c.spec.DefaultDraft(jsonschema.Draft2020)
	c.spec.AssertFormat()
	if err := c.spec.AddResource("openapi.json", inst); err != nil {
		t.Fatal(err)
	}
	return c
}

// conform checks body against a schema of the OpenAPI document.
func (c client) conform(name string, body []byte) {
	c.t.Helper()
	sch, err := c.spec.Compile("openapi.json#/components/schemas/" + name)
	if err != nil {
		c.t.Fatalf("schema %s: %v", name, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		c.t.Fatalf("%s: %v", body, err)
	}
	if err := sch.Validate(inst); err != nil {
		c.t.Fatalf("answer does not match the OpenAPI schema %s: %v\n%s", name, err, body)
	}
}

// do sends a request and returns the status, the content type and the body.
func (c client) do(method, path string, body string) (int, string, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func (c client) must(status int, method, path, body string, out any) {
	c.t.Helper()
	got, _, b := c.do(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, got, b, status)
	}
	switch out.(type) {
	case *flotilla.Schedule:
		c.conform("Schedule", b)
	case *flotilla.Page[flotilla.Schedule]:
		c.conform("SchedulePage", b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

type problemDoc struct {
	Status int                   `json:"status"`
	Detail string                `json:"detail"`
	Errors []flotilla.FieldError `json:"errors"`
}

// problem checks an error answer: its status, that it is a problem
// document, and (when field is set) that it names the field.
func (c client) problem(status int, method, path, body, field, says string) {
	c.t.Helper()
	got, ct, b := c.do(method, path, body)
	var p problemDoc
	if got != status || ct != "application/problem+json" || json.Unmarshal(b, &p) != nil || p.Status != status {
		c.t.Fatalf("%s %s = %d %s %s, want a %d problem document", method, path, got, ct, b, status)
	}
	if field == "" {
		return
	}
	for _, f := range p.Errors {
		if f.Field == field && strings.Contains(f.Message, says) {
			return
		}
	}
	c.t.Fatalf("%s %s = %s, want field %s saying %q", method, path, b, field, says)
}

// TestEndToEnd: a rate(1 minute) schedule created over HTTP on a server
// whose clock is advanced makes one run a minute, each with its
// schedule_id; paused, it makes none.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	b.start()
	c := newClient(t, b.server())

	var sch flotilla.Schedule
	c.must(201, "POST", "/v1/schedules", `{"name":"every minute","definition":"hello","expression":"rate(1 minute)","env":{"MODE":"fast"}}`, &sch)
	if sch.ID == "" || sch.Owner != owner || len(sch.NextFireTimes) != flotilla.NextFireTimesShown ||
		!sch.NextFireTimes[0].Equal(time.Date(2026, 11, 26, 12, 1, 0, 0, time.UTC)) {
		t.Fatalf("created %+v", sch)
	}
	runsOf := func() []flotilla.Run {
		var page flotilla.Page[flotilla.Run]
		c.must(200, "GET", "/v1/runs?schedule_id="+sch.ID, "", &page)
		return page.Items
	}
	for i := 1; i <= 3; i++ {
		b.step()
		got := runsOf()
		if len(got) != i {
			t.Fatalf("after %d minutes: %d runs, want %d", i, len(got), i)
		}
		for _, r := range got {
			if r.ScheduleID != sch.ID || r.Owner != owner || r.Env["MODE"] != "fast" {
				t.Fatalf("run %+v: want schedule %s, owner %s, env MODE=fast", r, sch.ID, owner)
			}
		}
	}
	var one flotilla.Schedule
	c.must(200, "GET", "/v1/schedules/"+sch.ID, "", &one)
	if one.LastFireTime == nil || !one.LastFireTime.Equal(time.Date(2026, 11, 26, 12, 3, 0, 0, time.UTC)) {
		t.Fatalf("last_fire_time = %v, want 12:03", one.LastFireTime)
	}

	var paused flotilla.Schedule
	c.must(200, "PATCH", "/v1/schedules/"+sch.ID, `{"enabled":false}`, &paused)
	if paused.Enabled || len(paused.NextFireTimes) != 0 {
		t.Fatalf("paused = %+v", paused)
	}
	for range 5 {
		b.clock.Advance(time.Minute)
	}
	time.Sleep(50 * time.Millisecond) // a scheduler that wrongly fired would have by now
	if got := runsOf(); len(got) != 3 {
		t.Fatalf("a paused schedule made runs: %d, want 3", len(got))
	}
	var list flotilla.Page[flotilla.Schedule]
	c.must(200, "GET", "/v1/schedules?enabled=false&definition=hello", "", &list)
	if len(list.Items) != 1 || list.Items[0].ID != sch.ID {
		t.Fatalf("paused list = %+v", list)
	}
	c.must(200, "GET", "/v1/schedules?enabled=true", "", &list)
	if len(list.Items) != 0 {
		t.Fatalf("enabled list = %+v", list)
	}
	c.must(204, "DELETE", "/v1/schedules/"+sch.ID, "", nil)
	c.problem(404, "GET", "/v1/schedules/"+sch.ID, "", "", "")
	if got := runsOf(); len(got) != 3 {
		t.Fatalf("deleting the schedule changed its runs: %d", len(got))
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	c := newClient(t, b.server())
	c.problem(400, "POST", "/v1/schedules", `{"name":"x","definition":"hello","expression":"cron(60 3 * * ? *)"}`,
		"expression", `cron minutes field "60"`)
	c.problem(400, "POST", "/v1/schedules", `{"name":"x","definition":"hello","expression":"rate(5 minutes)","timezone":"Europe/Pariss"}`,
		"timezone", `"Europe/Pariss"`)
	c.problem(400, "POST", "/v1/schedules", `{"name":"x","definition":"hello","expression":"rate(5 minutes)","owner":"mallory"}`,
		"owner", "not a known field")
	c.problem(400, "POST", "/v1/schedules", `{"name":"x","definition":"hello","expression":"rate(5 minutes)","enabled":"yes"}`,
		"enabled", "true or false")
	c.problem(400, "POST", "/v1/schedules", `{"name":"x"} {}`, "body", "one JSON object")
	c.problem(400, "POST", "/v1/schedules", ``, "body", "empty")
	big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
	c.problem(413, "POST", "/v1/schedules", big, "body", "at most 1048576 bytes")
	c.problem(404, "GET", "/v1/schedules/sch_missing", "", "", "")
	c.problem(404, "PATCH", "/v1/schedules/sch_missing", `{"enabled":false}`, "", "")
	c.problem(404, "DELETE", "/v1/schedules/sch_missing", "", "", "")
	c.problem(405, "PUT", "/v1/schedules", `{}`, "", "")
	c.problem(405, "POST", "/v1/schedules/sch_x", `{}`, "", "")
	c.problem(400, "GET", "/v1/schedules?limit=0", "", "limit", "1 to 500")
	c.problem(400, "GET", "/v1/schedules?enabled=maybe", "", "enabled", "true or false")
	c.problem(400, "GET", "/v1/schedules?definition=nope", "", "definition", `"nope"`)

	var sch flotilla.Schedule
	c.must(201, "POST", "/v1/schedules", `{"name":"x","definition":"hello","expression":"rate(5 minutes)"}`, &sch)
	c.problem(400, "PATCH", "/v1/schedules/"+sch.ID, `{"next_fire_times":[]}`, "next_fire_times", "not a known field")
	c.problem(400, "PATCH", "/v1/schedules/"+sch.ID, `{"catch_up":"all"}`, "catch_up", "latest")
	var page flotilla.Page[flotilla.Schedule]
	c.must(200, "GET", "/v1/schedules?limit=1", "", &page)
	if len(page.Items) != 1 || page.NextToken != "" {
		t.Fatalf("list = %+v", page)
	}
	if !bytes.Contains(mustJSON(t, page.Items[0]), []byte(`"next_fire_times":["2026-11-26T12:05:00Z"`)) {
		t.Fatalf("list item has no next_fire_times in RFC 3339 UTC: %s", mustJSON(t, page.Items[0]))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunNowAndPreview: "run now" launches the schedule's definition at
// once with its env, as the caller, listed among the schedule's runs even
// while paused, one run per idempotency key, without moving last_fire_time;
// the preview answers a zone's next fire times and names a bad field.
func TestRunNowAndPreview(t *testing.T) {
	t.Parallel()
	b := setup(t, now)
	c := newClient(t, b.server())

	var sch flotilla.Schedule
	c.must(201, "POST", "/v1/schedules", `{"name":"nightly","definition":"hello","expression":"cron(0 3 * * ? *)","timezone":"Europe/Paris","enabled":false,"env":{"MODE":"now"}}`, &sch)
	var run flotilla.Run
	c.must(202, "POST", "/v1/schedules/"+sch.ID+"/run", `{"idempotency_key":"click-1"}`, &run)
	if run.ScheduleID != sch.ID || run.Env["MODE"] != "now" || run.Owner != owner || run.Status != flotilla.StatusQueued {
		t.Fatalf("run now = %+v", run)
	}
	var again flotilla.Run
	c.must(200, "POST", "/v1/schedules/"+sch.ID+"/run", `{"idempotency_key":"click-1"}`, &again)
	if again.ID != run.ID {
		t.Fatalf("the same key made a second run: %s then %s", run.ID, again.ID)
	}
	var other flotilla.Run
	c.must(202, "POST", "/v1/schedules/"+sch.ID+"/run", "", &other)
	if other.ID == run.ID {
		t.Fatalf("an empty body reused run %s", run.ID)
	}
	var page flotilla.Page[flotilla.Run]
	c.must(200, "GET", "/v1/runs?schedule_id="+sch.ID, "", &page)
	if len(page.Items) != 2 {
		t.Fatalf("the schedule's runs = %d, want 2", len(page.Items))
	}
	var one flotilla.Schedule
	c.must(200, "GET", "/v1/schedules/"+sch.ID, "", &one)
	if one.LastFireTime != nil {
		t.Fatalf("run now moved last_fire_time to %v", one.LastFireTime)
	}
	c.problem(404, "POST", "/v1/schedules/sch_missing/run", "", "", "")
	c.problem(400, "POST", "/v1/schedules/"+sch.ID+"/run", `{"cluster":"x"}`, "cluster", "not a known field")

	// 03:00 in Paris is 02:00 UTC in winter; now is 2026-11-26 12:00 UTC.
	var prev struct {
		Timezone      string      `json:"timezone"`
		NextFireTimes []time.Time `json:"next_fire_times"`
	}
	code, _, body := c.do("GET", "/v1/schedules/preview?expression=cron(0+3+*+*+%3F+*)&timezone=Europe/Paris", "")
	if code != 200 {
		t.Fatalf("preview = %d %s", code, body)
	}
	c.conform("SchedulePreview", body)
	if err := json.Unmarshal(body, &prev); err != nil {
		t.Fatal(err)
	}
	if prev.Timezone != "Europe/Paris" || len(prev.NextFireTimes) != flotilla.NextFireTimesShown ||
		!prev.NextFireTimes[0].Equal(time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("preview = %s", body)
	}
	c.problem(400, "GET", "/v1/schedules/preview?expression=cron(60+3+*+*+%3F+*)", "", "expression", `cron minutes field "60"`)
	c.problem(400, "GET", "/v1/schedules/preview?expression=rate(5+minutes)&timezone=Mars/Olympus", "", "timezone", `"Mars/Olympus"`)
	c.problem(400, "GET", "/v1/schedules/preview", "", "expression", "required")
}
