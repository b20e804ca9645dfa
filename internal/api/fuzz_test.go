package api_test

import (
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
