package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// TestArrayCrashInjection launches an array of 2,000 quick children and
// kills the real server with SIGKILL 5 times while the children are made
// and run, restarting it on the same data directory each time.
// Afterwards every child exists once (by index, with the id derived from
// the parent's), has ended, and started at most once per attempt (each
// job appends its run id and attempt to a file outside the data
// directory); and the parent has ended with a summary that matches its
// children: SUCCEEDED if all did, else FAILED naming exactly the children
// that did not succeed (those running at a kill end FAILED, lost).
func TestArrayCrashInjection(t *testing.T) {
	t.Parallel()
	const (
		size  = 2000
		kills = 5
	)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	starts := dir + "-starts.log"
	t.Cleanup(func() { os.Remove(starts) })
	args := []string{"--max-running", "8"}
	// Without the race detector: 2,000 runs under it take minutes, and
	// what is tested here is what survives a kill (the race detector
	// watches the same code in the other tests).
	bin := buildPlain(t)
	s := startServerBin(t, bin, dir, args...)
	s.mustCLI(t, "definitions", "create", "--alias", "each", "--image", "alpine:3", "--cpu", "256", "--memory", "128",
		"--command", `echo "$FLOTILLA_RUN_ID $FLOTILLA_ATTEMPT" >> `+starts+`; sleep 0.02`)

	hc := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	base := s.url
	current := func() string { mu.Lock(); defer mu.Unlock(); return base }
	var parent flotilla.Run
	launched := make(chan error, 1)
	go func() {
		body, _ := json.Marshal(map[string]any{"definition": "each", "idempotency_key": "array-crash", "array": map[string]int{"size": size}})
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := hc.Post(current()+"/v1/runs", "application/json", bytes.NewReader(body))
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&parent)
				resp.Body.Close()
				if err == nil && (resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK) {
					launched <- nil
					return
				}
				err = fmt.Errorf("status %d: %v", resp.StatusCode, err)
			}
			if time.Now().After(deadline) {
				launched <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	began := time.Now()
	for k := range kills {
		time.Sleep(time.Duration(300+rng.IntN(2500)) * time.Millisecond)
		s.kill()
		s = startServerBin(t, bin, dir, args...)
		mu.Lock()
		base = s.url
		mu.Unlock()
		t.Logf("kill %d at %s", k+1, time.Since(began).Round(time.Millisecond))
	}
	if err := <-launched; err != nil {
		t.Fatalf("launch: %v", err)
	}

	// The parent ends. A busy machine makes this slow, so the test fails
	// only when nothing changes for 60 s, or after 8 minutes.
	get := func(id string) flotilla.Run {
		t.Helper()
		resp, err := hc.Get(s.url + "/v1/runs/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r flotilla.Run
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	deadline, stalled, last := time.Now().Add(8*time.Minute), time.Now().Add(60*time.Second), ""
	var p flotilla.Run
	for {
		p = get(parent.ID)
		if p.Status.Terminal() {
			break
		}
		now := fmt.Sprint(p.Array.Created, p.Array.Summary)
		if now != last {
			last, stalled = now, time.Now().Add(60*time.Second)
		}
		if time.Now().After(deadline) || time.Now().After(stalled) {
			t.Logf("server log:\n%s", s.logs)
			t.Fatalf("the array never ended: %s %q created %d summary %+v", p.Status, p.StatusReason, p.Array.Created, p.Array.Summary)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every child once, by index, ended.
	var kids []flotilla.Run
	tok := ""
	for {
		resp, err := hc.Get(s.url + "/v1/runs?limit=500&parent=" + parent.ID + "&next_token=" + url.QueryEscape(tok))
		if err != nil {
			t.Fatal(err)
		}
		var page flotilla.Page[flotilla.Run]
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, page.Items...)
		if tok = page.NextToken; tok == "" {
			break
		}
	}
	if len(kids) != size {
		t.Fatalf("%d children exist, want %d", len(kids), size)
	}
	counts := map[flotilla.RunStatus]int{}
	var notOK []int
	seen := map[int]bool{}
	for _, c := range kids {
		if c.ArrayIndex == nil || seen[*c.ArrayIndex] {
			t.Fatalf("child %s: index %v twice or missing", c.ID, c.ArrayIndex)
		}
		seen[*c.ArrayIndex] = true
		if want, _ := ids.Child(parent.ID, *c.ArrayIndex); c.ID != want {
			t.Fatalf("child %d has id %s, want %s", *c.ArrayIndex, c.ID, want)
		}
		if !c.Status.Terminal() {
			t.Fatalf("child %d is %s after its parent ended", *c.ArrayIndex, c.Status)
		}
		counts[c.Status]++
		if c.Status != flotilla.StatusSucceeded {
			notOK = append(notOK, *c.ArrayIndex)
			if c.ReasonCode != flotilla.ReasonLost {
				t.Errorf("child %d ended %s %s %q: only SUCCEEDED, or FAILED lost at a kill, are expected", *c.ArrayIndex, c.Status, c.ReasonCode, c.StatusReason)
			}
		}
	}
	slices.Sort(notOK)

	// Started at most once per attempt.
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	startCount := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		startCount[line]++
	}
	for line, n := range startCount {
		if n > 1 {
			t.Errorf("%s started %d times", line, n)
		}
	}
	if len(startCount) < size-len(notOK) {
		t.Errorf("%d starts recorded for %d children that succeeded", len(startCount), size-len(notOK))
	}

	// The parent's summary is its children's.
	sum := p.Array.Summary
	wantStatus := flotilla.StatusSucceeded
	if len(notOK) > 0 {
		wantStatus = flotilla.StatusFailed
	}
	got := map[flotilla.RunStatus]int{}
	for st, n := range sum.Counts {
		if n > 0 {
			got[st] = n
		}
	}
	if p.Status != wantStatus || fmt.Sprint(got) != fmt.Sprint(counts) || sum.Ended != size || !slices.Equal(sum.FailedIndexes, notOK) || p.Array.Created != size {
		t.Fatalf("parent %s (%s), created %d, summary %v ended %d failed %v; children say %v failed %v",
			p.Status, p.StatusReason, p.Array.Created, got, sum.Ended, sum.FailedIndexes, counts, notOK)
	}
	t.Logf("%d children after %d kills in %s: %v", size, kills, time.Since(began).Round(time.Millisecond), counts)
}
