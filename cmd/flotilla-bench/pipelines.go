package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// benchArrays launches arrays of 10,000 children on a server whose cluster
// runs 4 at a time, and measures the launch's answer (the parent, 202) and
// the time until all 10,000 children exist (array.created, polled every
// 10 ms). Each array is stopped afterwards.
func benchArrays(ctx context.Context, bin string) (map[string]Result, error) {
	const arrays, size = 3, 10000
	s, done, err := serverWithDefinition(bin, 4, "each", "true")
	if err != nil {
		return nil, err
	}
	defer done()
	var accept, made []float64
	for range arrays {
		var p flotilla.Run
		t0 := time.Now()
		if _, err := call("POST", s.url+"/v1/runs", map[string]any{"definition": "each", "array": map[string]int{"size": size}}, &p); err != nil {
			return nil, err
		}
		accept = append(accept, float64(time.Since(t0).Microseconds())/1000)
		deadline := t0.Add(2 * time.Minute)
		for {
			var cur flotilla.Run
			if _, err := call("GET", s.url+"/v1/runs/"+p.ID, nil, &cur); err != nil {
				return nil, err
			}
			if cur.Array != nil && cur.Array.Created == size {
				made = append(made, time.Since(t0).Seconds())
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("array %s: %d of %d children after 2 minutes", p.ID, cur.Array.Created, size)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := call("POST", s.url+"/v1/runs/"+p.ID+"/stop", nil, nil); err != nil {
			return nil, err
		}
	}
	// An array of 10,000 items (each a small object, ~40 bytes): the body
	// is ~400 KB, every item is checked, and all are stored before the 202.
	items := make([]map[string]string, size)
	for i := range items {
		items[i] = map[string]string{"date": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly), "shard": fmt.Sprint(i % 16)}
	}
	var p flotilla.Run
	body := map[string]any{"definition": "each", "array": map[string]any{"items": items}}
	raw, _ := json.Marshal(body)
	t0 := time.Now()
	if _, err := call("POST", s.url+"/v1/runs", body, &p); err != nil {
		return nil, err
	}
	itemsAccept := float64(time.Since(t0).Microseconds()) / 1000
	if _, err := call("POST", s.url+"/v1/runs/"+p.ID+"/stop", nil, nil); err != nil {
		return nil, err
	}
	slices.Sort(accept)
	slices.Sort(made)
	return map[string]Result{
		"array_10k_items_accept_ms": {Value: itemsAccept, Unit: "ms", Note: fmt.Sprintf("POST /v1/runs with 10,000 items (a %d KB body) until its 202: every item checked and stored first", len(raw)/1000)},
		"array_10k_accept_ms": {Value: accept[len(accept)-1], Unit: "ms (worst of 3)", Goal: "< 500 ms",
			Note: fmt.Sprintf("POST /v1/runs with array.size 10000 until its 202; each of 3: %.1f, %.1f, %.1f ms", accept[0], accept[1], accept[2])},
		"array_10k_materialise_s": {Value: made[len(made)-1], Unit: "s (worst of 3)", Goal: "< 10 s",
			Note: fmt.Sprintf("from the POST until all 10,000 children exist; each of 3: %.2f, %.2f, %.2f s", made[0], made[1], made[2])},
	}, nil
}

// benchDependencyHandoff chains 101 runs, each launched after the one
// before, and measures from a run's end (finished_at) to the start of the
// run that waited for it (started_at), both on the server's clock.
func benchDependencyHandoff(ctx context.Context, bin string) (map[string]Result, error) {
	const n = 101
	s, done, err := serverWithDefinition(bin, 4, "step", "echo step")
	if err != nil {
		return nil, err
	}
	defer done()
	var ids []string
	for i := range n {
		body := map[string]any{"definition": "step"}
		if i > 0 {
			body["after"] = []string{ids[i-1]}
		}
		var r flotilla.Run
		if _, err := call("POST", s.url+"/v1/runs", body, &r); err != nil {
			return nil, err
		}
		ids = append(ids, r.ID)
	}
	var last flotilla.Run
	deadline := time.Now().Add(2 * time.Minute)
	for !last.Status.Terminal() {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the chain's last run is %s after 2 minutes", last.Status)
		}
		time.Sleep(50 * time.Millisecond)
		if _, err := call("GET", s.url+"/v1/runs/"+ids[n-1], nil, &last); err != nil {
			return nil, err
		}
	}
	var hand []float64
	var prev flotilla.Run
	for i, id := range ids {
		var r flotilla.Run
		if _, err := call("GET", s.url+"/v1/runs/"+id, nil, &r); err != nil {
			return nil, err
		}
		if r.Status != flotilla.StatusSucceeded || r.StartedAt == nil {
			return nil, fmt.Errorf("run %d of the chain: %s %q", i, r.Status, r.StatusReason)
		}
		if i > 0 {
			hand = append(hand, float64(r.StartedAt.Sub(*prev.FinishedAt).Microseconds())/1000)
		}
		prev = r
	}
	return map[string]Result{
		"dependency_handoff_ms_p50": {Value: percentile(hand, 50), Unit: "ms"},
		"dependency_handoff_ms": {Value: percentile(hand, 99), Unit: "ms (p99)", Goal: "p99 < 200 ms",
			Note: "a chain of 101 runs, each after the one before: a run's finished_at to the next one's started_at"},
	}, nil
}
