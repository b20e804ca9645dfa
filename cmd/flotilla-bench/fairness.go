package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// localStack is the use cases on the embedded adapters, in this process, so
// a scenario can launch as several owners (the local API has one).
type localStack struct {
	svc  *runs.Service
	exec *embedded.Executor
	db   *embedded.DB
	stop context.CancelFunc
	dir  string
}

func newLocalStack(ctx context.Context, c flotilla.Cluster, command string) (*localStack, error) {
	dir, err := os.MkdirTemp("", "flotilla-bench")
	if err != nil {
		return nil, err
	}
	db, err := embedded.OpenDB(ctx, dir)
	if err != nil {
		return nil, err
	}
	svc := &runs.Service{Store: embedded.NewStore(db), Queue: embedded.NewQueue(db, []string{c.Name}, 0), Logs: embedded.NewLogReader(dir),
		Clusters: map[string]flotilla.Cluster{c.Name: c}, DefaultCluster: c.Name}
	ex := embedded.NewExecutor(dir, false, func(ev flotilla.TaskEvent) { svc.Reconcile(context.Background(), ev) }, nil)
	svc.Executor = ex
	loops, stop := context.WithCancel(ctx)
	go svc.Consume(loops, c.Name)
	go svc.Loop(loops, time.Second)
	d := flotilla.Definition{ID: ids.New(ids.Definition, time.Now()), Alias: "job", Image: "alpine:3", Command: command, CPU: 256, Memory: 512, Revision: 1}
	d.Normalize()
	if _, err := svc.Store.CreateDefinition(ctx, d); err != nil {
		stop()
		return nil, err
	}
	return &localStack{svc: svc, exec: ex, db: db, stop: stop, dir: dir}, nil
}

func (l *localStack) close() {
	l.stop()
	l.exec.Close()
	l.db.Close()
	os.RemoveAll(l.dir)
}

func (l *localStack) launch(ctx context.Context, owner string) (flotilla.Run, error) {
	r, _, err := l.svc.Launch(ctx, owner, runs.LaunchRequest{Definition: "job"})
	return r, err
}

// benchFairness: three owners keep one cluster saturated, with very
// different backlogs; each owner's share of run-seconds should be a third.
func benchFairness(ctx context.Context, _ string) (map[string]Result, error) {
	l, err := newLocalStack(ctx, flotilla.Cluster{Name: "default", MaxRunning: 3}, "sleep 0.2")
	if err != nil {
		return nil, err
	}
	defer l.close()
	backlog := map[string]int{"ana": 40, "ben": 6, "cy": 2}
	window := 20 * time.Second
	start := time.Now()
	var mu sync.Mutex
	var launched []string
	for time.Since(start) < window {
		for owner, want := range backlog {
			u, err := l.svc.Store.ListRuns(ctx, flotilla.RunFilter{Owner: owner, Statuses: []flotilla.RunStatus{flotilla.StatusQueued}, Limit: 100})
			if err != nil {
				return nil, err
			}
			for i := len(u.Items); i < want; i++ {
				r, err := l.launch(ctx, owner)
				if err != nil {
					return nil, err
				}
				mu.Lock()
				launched = append(launched, r.ID)
				mu.Unlock()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Run-seconds inside the steady window [2 s, window], per owner.
	from, to := start.Add(2*time.Second), start.Add(window)
	secs := map[string]float64{}
	for _, id := range launched {
		r, err := l.svc.Store.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.StartedAt == nil {
			continue
		}
		end := to
		if r.FinishedAt != nil && r.FinishedAt.Before(to) {
			end = *r.FinishedAt
		}
		s := *r.StartedAt
		if s.Before(from) {
			s = from
		}
		if end.After(s) {
			secs[r.Owner] += end.Sub(s).Seconds()
		}
	}
	total := 0.0
	for _, v := range secs {
		total += v
	}
	worst := 0.0
	note := ""
	for owner := range backlog {
		share := secs[owner] / total
		dev := math.Abs(share-1.0/3) / (1.0 / 3) * 100
		worst = math.Max(worst, dev)
		note += fmt.Sprintf("%s %.1f%% ", owner, share*100)
	}
	return map[string]Result{
		"fairness_max_deviation_pct": {Value: worst, Unit: "% from an equal share", Goal: "<= 10%", Note: "backlogs 40/6/2, max_running 3: " + note},
	}, nil
}

// benchBurst: one owner launches 1,000 runs, then another launches one;
// how many of the burst's runs are admitted before it.
func benchBurst(ctx context.Context, _ string) (map[string]Result, error) {
	l, err := newLocalStack(ctx, flotilla.Cluster{Name: "default", MaxRunning: 2}, "sleep 0.05")
	if err != nil {
		return nil, err
	}
	defer l.close()
	for range 1000 {
		if _, err := l.launch(ctx, "ana"); err != nil {
			return nil, err
		}
	}
	time.Sleep(300 * time.Millisecond)
	ben, err := l.launch(ctx, "ben")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	var admittedAt time.Time
	for admittedAt.IsZero() {
		evs, err := l.svc.Store.ListRunEvents(ctx, ben.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if e.To == flotilla.StatusPending {
				admittedAt = e.Time
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("ben's run was never admitted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Count ana's admissions between ben's launch and ben's admission.
	page, err := l.svc.Store.ListRuns(ctx, flotilla.RunFilter{Owner: "ana", Since: ben.QueuedAt.Add(-time.Minute), Limit: 500})
	if err != nil {
		return nil, err
	}
	delayed := 0
	f := flotilla.RunFilter{Owner: "ana", Limit: 500}
	for {
		for _, r := range page.Items {
			evs, _ := l.svc.Store.ListRunEvents(ctx, r.ID)
			for _, e := range evs {
				if e.To == flotilla.StatusPending && e.Time.After(ben.QueuedAt) && e.Time.Before(admittedAt) {
					delayed++
				}
			}
		}
		if page.NextToken == "" {
			break
		}
		f.NextToken = page.NextToken
		if page, err = l.svc.Store.ListRuns(ctx, f); err != nil {
			return nil, err
		}
	}
	return map[string]Result{
		"burst_delay_admissions": {Value: float64(delayed), Unit: "admissions", Goal: "<= 1",
			Note: fmt.Sprintf("1,000-run burst by one owner, max_running 2; the other owner's run waited %s", admittedAt.Sub(ben.QueuedAt).Round(time.Millisecond))},
	}, nil
}

// benchQueuePosition: reading a waiting run's place in line with 10,000
// runs queued.
func benchQueuePosition(ctx context.Context, bin string) (map[string]Result, error) {
	const queued = 10_000
	dir, _ := os.MkdirTemp("", "flotilla-bench")
	defer os.RemoveAll(dir)
	db, err := embedded.OpenDB(ctx, dir)
	if err != nil {
		return nil, err
	}
	store := embedded.NewStore(db)
	var last flotilla.Run
	start := time.Now().Add(-time.Hour)
	for i := range queued {
		at := start.Add(time.Duration(i) * time.Millisecond).UTC()
		r := flotilla.Run{ID: ids.New(ids.Run, at), DefinitionID: "def_q", Alias: "q", Revision: 1, Cluster: "default", Status: flotilla.StatusQueued,
			Owner: fmt.Sprintf("user%d", i%5), Image: "alpine:3", Command: "sleep 600", CPU: 256, Memory: 512, Attempt: 1, MaxAttempts: 3,
			Attempts: []flotilla.Attempt{{Attempt: 1, QueuedAt: at}}, QueuedAt: at}
		if _, _, err := store.CreateRun(ctx, r); err != nil {
			return nil, err
		}
		last = r
	}
	db.Close()
	s, err := startServer(bin, dir, "--max-running", "1")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	var lat []float64
	var got flotilla.Run
	for range 300 {
		t0 := time.Now()
		if _, err := call("GET", s.url+"/v1/runs/"+last.ID, nil, &got); err != nil {
			return nil, err
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
	}
	if got.QueuePosition < queued-2 {
		return nil, fmt.Errorf("the last run's position is %d", got.QueuePosition)
	}
	return map[string]Result{
		"queue_position_ms": {Value: percentile(lat, 99), Unit: "ms (p99)", Note: fmt.Sprintf("GET of the last of %d queued runs (position %d)", queued, got.QueuePosition)},
	}, nil
}
