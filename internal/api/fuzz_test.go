package api_test

import (
	"net/url"
	"strings"
	"testing"
)

// Seeds beyond these live in testdata/fuzz/<FuzzName>/.
var definitionSeeds = []string{
	`{"alias":"hello","image":"alpine:3","command":"echo hi","cpu":256,"memory":512}`,
	`{"alias":"x","image":"i","command":"c","cpu":128,"memory":128,"gpu":8,"env":{"A":"b"},"tags":["t"],"timeout_seconds":604800,"retry":{"max_attempts":10}}`,
	`{"alias":"","env":{"":""},"tags":[""],"retry":{}}`,
	`{"cpu":1e400}`,
	`{"env":null,"tags":null,"retry":null}`,
	`[1,2,3]`,
	`"just a string"`,
	`{"alias":"a"}{"alias":"b"}`,
	`{"alias":"\u0000","command":"\ud800"}`,
	``,
	// The adversarial test's cases (issue 13).
	`{"alias":"nul","image":"alpine\u0000:3","command":"true","cpu":256,"memory":512}`,
	`{"alias":"esc","image":"alpine\u001b[31m","command":"true","cpu":256,"memory":512}`,
	"{\"alias\":\"utf\",\"image\":\"alpine:3\",\"command\":\"echo \xff\xfe\",\"cpu\":256,\"memory\":512}",
	`{"alias":"frac","image":"alpine:3","command":"true","cpu":256.5,"memory":512}`,
	`{"alias":"neg","image":"alpine:3","command":"true","cpu":-0,"memory":1e3}`,
	`{"alias":"big","image":"alpine:3","command":"true","cpu":256,"memory":512,"env":{"A":"` + strings.Repeat("a", 4096) + `","B":"` + strings.Repeat("b", 4096) + `"}}`,
}

// FuzzDecodeDefinition: for any body, creating or patching a definition
// answers 2xx or 4xx (a documented problem), never 5xx, never panics.
func FuzzDecodeDefinition(f *testing.F) {
	for _, s := range definitionSeeds {
		f.Add([]byte(s))
	}
	h := setup(f, options{noConsume: true})
	h.createDefinition("base", "echo base")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range []struct{ method, path string }{
			{"POST", "/v1/definitions"},
			{"PATCH", "/v1/definitions/base"},
		} {
			r := h.serve(t, c.method, c.path, body)
			if r.status >= 500 {
				t.Fatalf("%s %s %q: %s", c.method, c.path, body, r)
			}
		}
	})
}

var launchSeeds = []string{
	`{"definition":"base"}`,
	`{"definition":"base","cluster":"parked","env":{"K":"v"},"command":"echo x","cpu":512,"memory":1024,"timeout_seconds":10,"tags":["a"],"idempotency_key":"k"}`,
	`{"definition":"base","cpu":-1,"memory":0,"timeout_seconds":-1}`,
	`{"definition":"def_nope"}`,
	`{"definition":"base","cluster":"mars"}`,
	`{"definition":"base","env":{"FLOTILLA_X":"1","bad name":"2"}}`,
	`{"definition":"base","command":null,"cpu":null,"env":null,"tags":null}`,
	`{"definition":"base","cpu":9223372036854775807,"memory":9223372036854775807}`,
	`{"definition":""}`,
	`{}`,
	// The adversarial test's cases (issue 13).
	`{"definition":"base","idempotency_key":"k\u0000"}`,
	`{"definition":"base","idempotency_key":"k\r\nX: y"}`,
	`{"definition":"base","idempotency_key":"same","env":{"A":"1"}}`,
	`{"definition":"base","idempotency_key":"same","env":{"A":"2"}}`,
	"{\"definition\":\"base\",\"env\":{\"A\":\"\xc3\"}}",
	`{"definition":"base","cpu":256.5,"memory":512.25}`,
}

// FuzzLaunchRequest: for any body, POST /v1/runs answers 2xx or 4xx, never
// 5xx, never panics.
func FuzzLaunchRequest(f *testing.F) {
	for _, s := range launchSeeds {
		f.Add([]byte(s))
	}
	h := setup(f, options{noConsume: true})
	h.createDefinition("base", "echo base")
	f.Fuzz(func(t *testing.T, body []byte) {
		r := h.serve(t, "POST", "/v1/runs", body)
		if r.status >= 500 {
			t.Fatalf("POST /v1/runs %q: %s", body, r)
		}
	})
}

var querySeeds = []string{
	"status=QUEUED&status=queued&status=RUNNING,SUCCEEDED",
	"status=" + strings.Repeat("QUEUED,", 2000),
	strings.Repeat("status=BOGUS&", 200),
	"since=1500-01-01T00:00:00Z&until=2300-01-01T00:00:00Z",
	"since=0001-01-01T00:00:00Z",
	"since=2262-04-12T00:00:00Z",
	"since=2562047h",
	"next_token=YW55dGhpbmc",
	"next_token=%zz",
	"next_token=cjE6cnVuX3g",
	"limit=0&tail=-1",
	"limit=99999999999999999999",
	"group_by=nope&definition=%00",
}

// FuzzQueries: for any query string, the list, cost and log routes answer
// 2xx or 4xx, never 5xx, never panic: dates out of range, forged tokens,
// thousands of repeated values.
func FuzzQueries(f *testing.F) {
	for _, s := range querySeeds {
		f.Add(s)
	}
	h := setup(f, options{noConsume: true})
	h.createDefinition("base", "echo base")
	run := h.launch("base", parkedCluster)
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := url.ParseRequestURI("/v1/runs?" + q); err != nil || strings.ContainsFunc(q, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // not a request line a client could send
		}
		for _, path := range []string{"/v1/runs", "/v1/definitions", "/v1/costs", "/v1/runs/" + run.ID + "/logs"} {
			r := h.serve(t, "GET", path+"?"+q, nil)
			if r.status >= 500 {
				t.Fatalf("GET %s?%s: %s", path, q, r)
			}
		}
	})
}
