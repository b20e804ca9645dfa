package awsfake_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/awsfake"
)

func TestStall(t *testing.T) {
	t.Parallel()
	counting := func(n *atomic.Int64) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			_, _ = w.Write([]byte("ok"))
		})
	}
	h := counting(new(atomic.Int64))

	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		var handled atomic.Int64
		st := awsfake.Stall(counting(&handled), awsfake.Stalls{Rate: 1, Delay: 20 * time.Millisecond, Drop: true, Seed: 1})
		srv := httptest.NewServer(st)
		defer srv.Close()
		const n = 20
		// One connection per request, so the client never retries one.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for range n {
			resp, err := client.Post(srv.URL, "text/plain", nil)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("a stalled request was answered: %s", resp.Status)
			}
		}
		before, after := st.Stalled()
		if before+after != n || before == 0 || after == 0 {
			t.Fatalf("stalled before=%d after=%d, want both kinds, %d in all", before, after, n)
		}
		// Requests stalled after handling were handled; the others not.
		if got := int(handled.Load()); got != after {
			t.Errorf("handled %d requests, want %d (those stalled after handling)", got, after)
		}
	})

	t.Run("client timeout", func(t *testing.T) {
		t.Parallel()
		st := awsfake.Stall(h, awsfake.Stalls{Rate: 1, Delay: time.Second, Seed: 2})
		srv := httptest.NewServer(st)
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		start := time.Now()
		_, err := http.DefaultClient.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the client's timeout", err)
		}
		if time.Since(start) > 500*time.Millisecond {
			t.Errorf("the client waited %s", time.Since(start))
		}
	})

	t.Run("late answers and rate", func(t *testing.T) {
		t.Parallel()
		st := awsfake.Stall(h, awsfake.Stalls{Rate: 0.1, Delay: 5 * time.Millisecond, Seed: 3})
		srv := httptest.NewServer(st)
		defer srv.Close()
		const n = 400
		for range n {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
		}
		before, after := st.Stalled()
		if s := before + after; s < n/20 || s > n/5 {
			t.Errorf("%d of %d stalled, want about 10%%", s, n)
		}
	})
}
