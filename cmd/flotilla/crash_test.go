package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestCrashInjection launches 200 quick runs on a cluster of 4 slots while
// the real server is killed with SIGKILL at random moments (12 times) and
// restarted on the same data directory. Afterwards every run exists once,
// has ended, and no attempt started twice: each job appends its run id and
// attempt to a file outside the data directory, and the executor's
// per-attempt work directory (made before the process) must exist for
// every start seen. Runs that were running at a kill end FAILED (lost).
func TestCrashInjection(t *testing.T) {
	t.Parallel()
	const (
		launches = 200
		kills    = 12
	)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	starts := filepath.Join(t.TempDir(), "starts.log")
	args := []string{"--max-running", "4"}
	s := startServer(t, dir, args...)
	s.mustCLI(t, "definitions", "create", "--alias", "tick", "--image", "alpine:3", "--cpu", "256", "--memory", "128",
		"--command", `echo "$FLOTILLA_RUN_ID $FLOTILLA_ATTEMPT" >> `+starts+`; sleep 0.1`)

	var mu sync.Mutex
	base := s.url
	current := func() string { mu.Lock(); defer mu.Unlock(); return base }
	hc := &http.Client{Timeout: 5 * time.Second}

	// Four clients launch, each retrying with its idempotency key until
	// the server (whichever life of it) answers.
	var wg sync.WaitGroup
	errs := make(chan error, launches)
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pause := rand.New(rand.NewPCG(uint64(seed), uint64(c)))
			for i := c; i < launches; i += 4 {
				body, _ := json.Marshal(map[string]any{"definition": "tick", "idempotency_key": fmt.Sprintf("crash-%03d", i)})
				deadline := time.Now().Add(60 * time.Second)
				for {
					resp, err := hc.Post(current()+"/v1/runs", "application/json", bytes.NewReader(body))
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
							break
						}
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("launch %d: %v", i, err)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(time.Duration(pause.IntN(40)) * time.Millisecond)
			}
		}()
	}

	began := time.Now()
	for k := range kills {
		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		s.kill()
		s = startServer(t, dir, args...)
		mu.Lock()
		base = s.url
		mu.Unlock()
		t.Logf("kill %d at %s", k+1, time.Since(began).Round(time.Millisecond))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every run ends. A busy machine makes this slow, so the test fails
	// only when no run ends for 30 s (stuck), or after 4 minutes.
	var all []flotilla.Run
	deadline, stalled, lastActive := time.Now().Add(4*time.Minute), time.Now().Add(30*time.Second), -1
	for {
		all = listAllRuns(t, hc, s.url)
		active := 0
		for _, r := range all {
			if !r.Status.Terminal() {
				active++
			}
		}
		if active == 0 {
			break
		}
		if active != lastActive {
			lastActive, stalled = active, time.Now().Add(30*time.Second)
		}
		if time.Now().After(deadline) || time.Now().After(stalled) {
			for _, r := range all {
				if !r.Status.Terminal() {
					t.Logf("run %s attempt %d: %s %s %q %+v", r.ID, r.Attempt, r.Status, r.WaitReason, r.StatusReason, r.Attempts)
				}
			}
			t.Logf("server log:\n%s", s.logs)
			t.Fatalf("%d of %d runs never ended", active, len(all))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// None lost, none made twice.
	if len(all) != launches {
		t.Fatalf("%d runs exist, want %d", len(all), launches)
	}
	keys := map[string]string{}
	for _, r := range all {
		if prev, dup := keys[r.IdempotencyKey]; dup {
			t.Fatalf("key %s made runs %s and %s", r.IdempotencyKey, prev, r.ID)
		}
		keys[r.IdempotencyKey] = r.ID
	}
	for i := range launches {
		if _, ok := keys[fmt.Sprintf("crash-%03d", i)]; !ok {
			t.Fatalf("launch crash-%03d was lost", i)
		}
	}

	// None started twice.
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	startCount := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		startCount[line]++
	}
	byStatus := map[string]int{}
	for _, r := range all {
		byStatus[string(r.Status)+"/"+string(r.ReasonCode)]++
		for a := 1; a <= r.Attempt; a++ {
			k := fmt.Sprintf("%s %d", r.ID, a)
			if n := startCount[k]; n > 1 {
				t.Errorf("run %s attempt %d started %d times", r.ID, a, n)
			} else if n == 1 {
				if _, err := os.Stat(filepath.Join(dir, "work", r.ID, fmt.Sprint(a))); err != nil {
					t.Errorf("run %s attempt %d ran without its start marker: %v", r.ID, a, err)
				}
			}
			delete(startCount, k)
		}
		switch {
		case r.Status == flotilla.StatusSucceeded:
			if n := countLine(b, fmt.Sprintf("%s %d", r.ID, r.Attempt)); n != 1 {
				t.Errorf("succeeded run %s attempt %d wrote %d start lines", r.ID, r.Attempt, n)
			}
		case r.Status == flotilla.StatusFailed && r.ReasonCode == flotilla.ReasonLost:
		default:
			t.Errorf("run %s ended %s %s %q: only SUCCEEDED, or FAILED lost at a kill, are expected", r.ID, r.Status, r.ReasonCode, r.StatusReason)
		}
	}
	for k := range startCount {
		t.Errorf("a job started for %q, which no run has", k)
	}
	t.Logf("%d runs after %d kills in %s: %v", len(all), kills, time.Since(began).Round(time.Millisecond), byStatus)
}

func countLine(b []byte, line string) int {
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if l == line {
			n++
		}
	}
	return n
}

// listAllRuns pages through every run.
func listAllRuns(t *testing.T, hc *http.Client, base string) []flotilla.Run {
	t.Helper()
	var all []flotilla.Run
	tok := ""
	for {
		resp, err := hc.Get(base + "/v1/runs?limit=500&next_token=" + url.QueryEscape(tok))
		if err != nil {
			t.Fatal(err)
		}
		var page flotilla.Page[flotilla.Run]
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.NextToken == "" {
			return all
		}
		tok = page.NextToken
	}
}
