package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// benchLoad sends 10,000 launches from 64 concurrent clients to one
// server whose cluster runs as many jobs at once as the machine has CPUs.
// Every request must be answered — 202, or 429 with Retry-After, after
// which the client waits as told and tries again with the same
// idempotency key — and every accepted run must end: the finished runs
// counted in the history equal the accepted launches.
func benchLoad(ctx context.Context, bin string) (map[string]Result, error) {
	const clients, total = 64, 10_000
	dir, _ := os.MkdirTemp("", "flotilla-bench")
	defer os.RemoveAll(dir)
	s, err := startServer(bin, dir, "--max-running", strconv.Itoa(runtime.NumCPU()))
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if err := define(s, "noop", "true"); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var (
		mu        sync.Mutex
		lat       []float64
		accepted  int
		shed      int
		problems  []string
		next      = 0
		wg        sync.WaitGroup
		takeIndex = func() int {
			mu.Lock()
			defer mu.Unlock()
			next++
			return next
		}
	)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := takeIndex(); i <= total; i = takeIndex() {
				body := fmt.Sprintf(`{"definition":"noop","idempotency_key":"load-%d"}`, i)
				for {
					t0 := time.Now()
					code, retryAfter, err := post(hc, s.url+"/v1/runs", body)
					d := float64(time.Since(t0).Microseconds()) / 1000
					mu.Lock()
					lat = append(lat, d)
					switch {
					case err != nil:
						problems = append(problems, fmt.Sprintf("launch %d: %v", i, err))
					case code == http.StatusAccepted:
						accepted++
					case code == http.StatusTooManyRequests && retryAfter > 0:
						shed++
					default:
						problems = append(problems, fmt.Sprintf("launch %d: status %d (Retry-After %q)", i, code, retryAfter))
					}
					mu.Unlock()
					if code != http.StatusTooManyRequests || retryAfter <= 0 {
						break
					}
					time.Sleep(retryAfter)
				}
			}
		}()
	}
	wg.Wait()
	launched := time.Since(start)
	if len(problems) > 0 {
		return nil, fmt.Errorf("%d launches not answered as they should be, first: %s", len(problems), problems[0])
	}

	// Every accepted run ends, and none is lost.
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var cs struct {
			Items []flotilla.ClusterStats `json:"items"`
		}
		if _, err := call("GET", s.url+"/v1/clusters", nil, &cs); err != nil {
			return nil, err
		}
		if len(cs.Items) > 0 && cs.Items[0].Queued == 0 && cs.Items[0].Running == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("runs still active after 30 minutes: %+v", cs.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	finished := time.Since(start)
	ended, err := countRuns(s, flotilla.StatusSucceeded, flotilla.StatusFailed, flotilla.StatusStopped)
	if err != nil {
		return nil, err
	}
	succeeded, err := countRuns(s, flotilla.StatusSucceeded)
	if err != nil {
		return nil, err
	}
	if ended != accepted || succeeded != accepted {
		return nil, fmt.Errorf("%d launches accepted, %d runs ended (%d succeeded)", accepted, ended, succeeded)
	}
	note := fmt.Sprintf("%d launches from %d clients, max_running %d (CPUs), jobs `true`; %d accepted, %d answered 429 and retried, all %d ended SUCCEEDED",
		total, clients, runtime.NumCPU(), accepted, shed, succeeded)
	return map[string]Result{
		"load_launches_per_s": {Value: float64(total) / launched.Seconds(), Unit: "launches/s", Goal: ">= 1000/s on 2 cores", Note: note},
		"load_launch_p99_ms":  {Value: percentile(lat, 99), Unit: "ms (p99)", Note: "every request of the load run, 64 concurrent; no goal set"},
		"load_all_finished_s": {Value: finished.Seconds(), Unit: "s", Note: "from the first launch until the 10,000th run ended"},
	}, nil
}

// post sends a JSON body and returns the status and Retry-After.
func post(hc *http.Client, u, body string) (int, time.Duration, error) {
	resp, err := hc.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	var wait time.Duration
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			wait = max(time.Duration(secs)*time.Second, time.Millisecond)
		}
	}
	return resp.StatusCode, wait, nil
}

// countRuns pages through the runs in the given statuses.
func countRuns(s *serverProc, statuses ...flotilla.RunStatus) (int, error) {
	q := url.Values{"limit": {"500"}}
	for _, st := range statuses {
		q.Add("status", string(st))
	}
	n := 0
	for {
		var page flotilla.Page[flotilla.Run]
		if _, err := call("GET", s.url+"/v1/runs?"+q.Encode(), nil, &page); err != nil {
			return 0, err
		}
		n += len(page.Items)
		if page.NextToken == "" {
			return n, nil
		}
		q.Set("next_token", page.NextToken)
	}
}
