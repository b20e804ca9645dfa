package awsfake

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Serve starts h on a loopback httptest server, stops it when the test
// ends, and returns its URL (for an SDK client's BaseEndpoint).
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Faults injects failures into a fraction of a fake's responses.
type Faults struct {
	// Rate is the fraction of requests (0..1) answered with a fault: half
	// of them a ThrottlingException (400), half a 500.
	Rate float64
	// Seed makes the faults reproducible.
	Seed uint64
}

// faulter draws faults from a seeded RNG, safely for concurrent requests.
type faulter struct {
	mu   sync.Mutex
	rate float64
	rng  *rand.Rand
	n    map[string]int
}

func newFaulter(f Faults) *faulter {
	return &faulter{rate: f.Rate, rng: rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15)), n: map[string]int{}}
}

// draw returns 0 (no fault), 400 (throttle) or 500.
func (f *faulter) draw(op string) int {
	if f.rate <= 0 {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= f.rate {
		return 0
	}
	f.n[op]++
	if f.rng.IntN(2) == 0 {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (f *faulter) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.n))
	for k, v := range f.n {
		out[k] = v
	}
	return out
}

// apiError is an AWS JSON 1.1 error response.
type apiError struct {
	status int
	typ    string
	msg    string
	extra  map[string]any
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func clientErr(typ, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: msg}
}

func throttled() *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "ThrottlingException", msg: "Rate exceeded"}
}

func serverErr(typ string) *apiError {
	return &apiError{status: http.StatusInternalServerError, typ: typ, msg: "We encountered an internal error. Please try again."}
}

// handler decodes one AWS JSON 1.1 request and answers it.
type handler func(op string, body []byte) (any, *apiError)

func serveJSON(w http.ResponseWriter, r *http.Request, prefix string, h handler) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, prefix+".")
	body, err := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "fake-request")
	if !ok || err != nil {
		writeErr(w, clientErr("UnknownOperationException", "unknown target "+target))
		return
	}
	out, aerr := h(op, body)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"__type": e.typ, "message": e.msg}
	for k, v := range e.extra {
		body[k] = v
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func decode(body []byte, v any) *apiError {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return clientErr("SerializationException", err.Error())
	}
	return nil
}
