package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"sync"
	"time"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

var httpc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

func call(method, url string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

func define(s *serverProc, alias, command string) error {
	_, err := call("POST", s.url+"/v1/definitions", map[string]any{"alias": alias, "image": "alpine:3", "command": command, "cpu": 256, "memory": 128}, nil)
	return err
}

type logPage struct {
	Events    []flotilla.LogEvent `json:"events"`
	NextToken string              `json:"next_token"`
	Complete  bool                `json:"complete"`
}

// serverWithDefinition starts `flotilla serve` on a fresh data dir with
// max_running slots and one definition; done stops it and removes the dir.
func serverWithDefinition(bin string, maxRunning int, alias, command string) (*serverProc, func(), error) {
	dir, err := os.MkdirTemp("", "flotilla-bench")
	if err != nil {
		return nil, nil, err
	}
	s, err := startServer(bin, dir, "--max-running", fmt.Sprint(maxRunning))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	done := func() { s.stop(); os.RemoveAll(dir) }
	if err := define(s, alias, command); err != nil {
		done()
		return nil, nil, err
	}
	return s, done, nil
}

// waitLogs polls until the run is complete and returns its log lines.
func waitLogs(s *serverProc, id string, timeout time.Duration) ([]flotilla.LogEvent, error) {
	deadline := time.Now().Add(timeout)
	var events []flotilla.LogEvent
	tok := ""
	for time.Now().Before(deadline) {
		var p logPage
		if _, err := call("GET", s.url+"/v1/runs/"+id+"/logs?next_token="+tok, nil, &p); err != nil {
			return nil, err
		}
		events = append(events, p.Events...)
		tok = p.NextToken
		if p.Complete {
			return events, nil
		}
		if len(p.Events) == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil, fmt.Errorf("run %s did not complete", id)
}

// baselineFirstLine is how long `sh -c 'echo x'` takes, spawned directly,
// from before the spawn to its first line read: the cost the overhead
// figures subtract.
func baselineFirstLine(n int) ([]float64, error) {
	var out []float64
	for range n {
		t0 := time.Now()
		cmd := exec.Command("/bin/sh", "-c", "echo x")
		pipe, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		bufio.NewReader(pipe).ReadString('\n')
		out = append(out, float64(time.Since(t0).Microseconds())/1000)
		cmd.Wait()
	}
	return out, nil
}

func benchLaunchToStart(ctx context.Context, bin string) (map[string]Result, error) {
	const n = 200
	base, err := baselineFirstLine(n)
	if err != nil {
		return nil, err
	}
	s, done, err := serverWithDefinition(bin, 2, "echo", "echo x")
	if err != nil {
		return nil, err
	}
	defer done()
	baseMedian := percentile(base, 50)
	var over []float64
	for range n {
		var r flotilla.Run
		t0 := time.Now()
		if _, err := call("POST", s.url+"/v1/runs", map[string]any{"definition": "echo"}, &r); err != nil {
			return nil, err
		}
		evs, err := waitLogs(s, r.ID, 20*time.Second)
		if err != nil || len(evs) == 0 {
			return nil, fmt.Errorf("run %s: %v (%d lines)", r.ID, err, len(evs))
		}
		over = append(over, float64(evs[0].Timestamp.Sub(t0).Microseconds())/1000-baseMedian)
	}
	return map[string]Result{
		"launch_to_start_overhead_ms_p50": {Value: percentile(over, 50), Unit: "ms"},
		"launch_to_start_overhead_ms":     {Value: percentile(over, 99), Unit: "ms (p99)", Goal: "p99 < 20 ms"},
		"spawn_baseline_ms_p50":           {Value: baseMedian, Unit: "ms", Note: "sh -c 'echo x' to its first line, spawned directly"},
	}, nil
}

func benchHandoff(ctx context.Context, bin string) (map[string]Result, error) {
	const n = 101
	base, err := baselineFirstLine(50)
	if err != nil {
		return nil, err
	}
	s, done, err := serverWithDefinition(bin, 1, "pair", "echo start; echo end")
	if err != nil {
		return nil, err
	}
	defer done()
	var runIDs []string
	for range n {
		var r flotilla.Run
		if _, err := call("POST", s.url+"/v1/runs", map[string]any{"definition": "pair"}, &r); err != nil {
			return nil, err
		}
		runIDs = append(runIDs, r.ID)
	}
	type span struct{ first, last time.Time }
	var spans []span
	for _, id := range runIDs {
		evs, err := waitLogs(s, id, 60*time.Second)
		if err != nil || len(evs) != 2 {
			return nil, fmt.Errorf("run %s: %v (%d lines)", id, err, len(evs))
		}
		spans = append(spans, span{evs[0].Timestamp, evs[1].Timestamp})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].first.Before(spans[j].first) })
	baseMedian := percentile(base, 50)
	var hand []float64
	for i := 1; i < len(spans); i++ {
		hand = append(hand, float64(spans[i].first.Sub(spans[i-1].last).Microseconds())/1000-baseMedian)
	}
	return map[string]Result{
		"handoff_ms_p50": {Value: percentile(hand, 50), Unit: "ms"},
		"handoff_ms":     {Value: percentile(hand, 99), Unit: "ms (p99)", Goal: "p99 < 100 ms"},
	}, nil
}

func benchLaunchThroughput(ctx context.Context, bin string) (map[string]Result, error) {
	const clients, perClient = 32, 125
	s, done, err := serverWithDefinition(bin, 2, "noop", "true")
	if err != nil {
		return nil, err
	}
	defer done()
	var mu sync.Mutex
	var lat []float64
	var failed int
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perClient {
				t0 := time.Now()
				code, err := call("POST", s.url+"/v1/runs", map[string]any{"definition": "noop"}, nil)
				d := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				lat = append(lat, d)
				if err != nil || code != http.StatusAccepted {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed > 0 {
		return nil, fmt.Errorf("%d launches failed", failed)
	}
	total := clients * perClient
	return map[string]Result{
		"launches_per_s":        {Value: float64(total) / elapsed.Seconds(), Unit: "launches/s", Goal: ">= 1000/s on 2 cores", Note: fmt.Sprintf("%d launches, 32 clients", total)},
		"launch_latency_p99_ms": {Value: percentile(lat, 99), Unit: "ms (p99)"},
	}, nil
}

func benchListRuns(ctx context.Context, bin string) (map[string]Result, error) {
	const total = 100_000
	dir, _ := os.MkdirTemp("", "flotilla-bench")
	defer os.RemoveAll(dir)
	if err := seedRuns(ctx, dir, total); err != nil {
		return nil, err
	}
	s, err := startServer(bin, dir, "--max-running", "2")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	var lat []float64
	for i := range 300 {
		t0 := time.Now()
		var page flotilla.Page[flotilla.Run]
		url := fmt.Sprintf("%s/v1/runs?status=SUCCEEDED&definition=def_bench_%d&limit=50", s.url, i%10)
		if _, err := call("GET", url, nil, &page); err != nil {
			return nil, err
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		if len(page.Items) != 50 {
			return nil, fmt.Errorf("list returned %d runs from %s", len(page.Items), url)
		}
	}
	return map[string]Result{
		"list_runs_p50_ms": {Value: percentile(lat, 50), Unit: "ms"},
		"list_runs_p99_ms": {Value: percentile(lat, 99), Unit: "ms (p99)", Goal: "< 20 ms", Note: "status + definition filter, limit 50, 100,000 runs"},
	}, nil
}

// seedRuns writes finished runs straight into a data dir's store.
func seedRuns(ctx context.Context, dir string, n int) error {
	db, err := embedded.OpenDB(ctx, dir)
	if err != nil {
		return err
	}
	defer db.Close()
	store := embedded.NewStore(db)
	statuses := []flotilla.RunStatus{flotilla.StatusSucceeded, flotilla.StatusFailed, flotilla.StatusSucceeded, flotilla.StatusStopped}
	start := time.Now().Add(-time.Duration(n) * time.Second)
	for i := range n {
		at := start.Add(time.Duration(i) * time.Second).UTC()
		r := flotilla.Run{ID: ids.New(ids.Run, at), DefinitionID: fmt.Sprintf("def_bench_%d", i%10), Alias: fmt.Sprintf("bench-%d", i%10),
			Revision: 1, Cluster: "default", Status: statuses[(i/10)%len(statuses)], Owner: fmt.Sprintf("user%d", i%7), Image: "alpine:3",
			Command: "true", CPU: 256, Memory: 512, Env: map[string]string{"K": "V"}, Tags: []string{"bench"}, Attempt: 1, MaxAttempts: 3,
			Attempts: []flotilla.Attempt{{Attempt: 1, QueuedAt: at}}, QueuedAt: at}
		if _, _, err := store.CreateRun(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
