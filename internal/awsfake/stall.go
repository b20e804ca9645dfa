package awsfake

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Stalls makes a fraction of a handler's requests time out: the answer
// never comes in time. Half of the stalled requests are held before the
// handler sees them (the call never happened); the other half are handled
// and their answer is then held back (the call happened, its answer was
// lost), so a client's retry must be idempotent.
type Stalls struct {
	// Rate is the fraction of requests (0..1) stalled.
	Rate float64
	// Delay is how long a stalled request is held (default 200ms).
	Delay time.Duration
	// Drop, when set, ends a stalled request by dropping its connection
	// after Delay, with no answer: what a client whose own timeout is
	// Delay sees. Otherwise the answer (or, when the call never happened,
	// the handling) comes late, after Delay.
	Drop bool
	// Seed makes the stalls reproducible.
	Seed uint64
}

// Staller is an http.Handler that stalls a fraction of the requests to
// the handler it wraps. It wraps any handler: the ECS and Logs fakes, an
// in-process emulator, or a reverse proxy to one.
type Staller struct {
	next http.Handler
	s    Stalls

	mu     sync.Mutex
	rng    *rand.Rand
	before int
	after  int
}

// Stall wraps next with s.
func Stall(next http.Handler, s Stalls) *Staller {
	if s.Delay <= 0 {
		s.Delay = 200 * time.Millisecond
	}
	return &Staller{next: next, s: s, rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x5bd1e995))}
}

// Stalled returns how many requests were held before being handled and
// how many had their answer held back.
func (st *Staller) Stalled() (before, after int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.before, st.after
}

// draw returns 0 (no stall), 1 (before handling) or 2 (after handling).
func (st *Staller) draw() int {
	if st.s.Rate <= 0 {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rng.Float64() >= st.s.Rate {
		return 0
	}
	if st.rng.IntN(2) == 0 {
		st.before++
		return 1
	}
	st.after++
	return 2
}

func (st *Staller) wait(r *http.Request) {
	t := time.NewTimer(st.s.Delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func (st *Staller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch st.draw() {
	case 0:
		st.next.ServeHTTP(w, r)
	case 1:
		st.wait(r)
		if st.s.Drop || r.Context().Err() != nil {
			panic(http.ErrAbortHandler) // the client gave up: no answer
		}
		st.next.ServeHTTP(w, r)
	case 2:
		rec := httptest.NewRecorder()
		st.next.ServeHTTP(rec, r)
		st.wait(r)
		if st.s.Drop || r.Context().Err() != nil {
			panic(http.ErrAbortHandler)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}
