package schedules_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
	"github.com/flotilla-run/flotilla/internal/runs"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

const owner = "ada"

// bundle is one test's world: the embedded adapters wired as `flotilla
// serve` wires them (without a dispatcher, so runs stay QUEUED), a fake
// clock, the schedule service and its scheduler (not started).
type bundle struct {
	t         *testing.T
	clock     *schedules.FakeClock
	runs      *runs.Service
	store     *embedded.ScheduleStore
	svc       *schedules.Service
	scheduler *schedules.Scheduler
	def       flotilla.Definition
}

func setup(t *testing.T, now time.Time) *bundle {
	t.Helper()
	ctx := context.Background()
	db, err := embedded.OpenDB(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clock := schedules.NewFakeClock(now)
	rs := &runs.Service{
		Store:          embedded.NewStore(db),
		Queue:          embedded.NewQueue(db, []string{"default", "gpu"}, 0),
		Clusters:       map[string]flotilla.Cluster{"default": {Name: "default", MaxRunning: 2}, "gpu": {Name: "gpu", MaxRunning: 1}},
		DefaultCluster: "default",
		NowFunc:        clock.Now,
	}
	hello := flotillatest.NewDefinition("hello")
	hello.Owner = owner
	def, err := rs.Store.CreateDefinition(ctx, hello)
	if err != nil {
		t.Fatalf("CreateDefinition: %v", err)
	}
	store := embedded.NewScheduleStore(db)
	svc := &schedules.Service{Store: store, Runs: rs, NowFunc: clock.Now}
	sch := schedules.NewScheduler(svc, clock, nil)
	svc.Trigger = sch
	return &bundle{t: t, clock: clock, runs: rs, store: store, svc: svc, scheduler: sch, def: def}
}

// start runs the scheduler until the test ends.
func (b *bundle) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.scheduler.Run(ctx) }()
	b.t.Cleanup(func() { cancel(); <-done })
}

func (b *bundle) create(req schedules.CreateRequest) flotilla.Schedule {
	b.t.Helper()
	if req.Definition == "" {
		req.Definition = "hello"
	}
	if req.Name == "" {
		req.Name = "test"
	}
	sch, err := b.svc.Create(context.Background(), owner, req)
	if err != nil {
		b.t.Fatalf("Create(%+v): %v", req, err)
	}
	return sch
}

// idle waits until the scheduler sleeps on its timer.
func (b *bundle) idle() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.clock.WaitForTimers(ctx, 1); err != nil {
		b.t.Fatalf("the scheduler never went back to sleep on a timer: %v", err)
	}
}

// step waits for the scheduler to sleep, moves the clock to its timer and
// waits until it has handled it; it returns the time it moved to.
func (b *bundle) step() time.Time {
	b.t.Helper()
	b.idle()
	at, ok := b.clock.NextTimer()
	if !ok {
		b.t.Fatalf("no timer")
	}
	b.clock.Set(at)
	b.idle()
	return at
}

// fired returns the scheduled times of the schedule's runs, oldest first,
// read from their idempotency keys.
func (b *bundle) fired(scheduleID string) []string {
	b.t.Helper()
	page, err := b.runs.Store.ListRuns(context.Background(), flotilla.RunFilter{ScheduleID: scheduleID, Limit: 500})
	if err != nil {
		b.t.Fatalf("ListRuns: %v", err)
	}
	var out []string
	for _, r := range page.Items {
		if r.ScheduleID != scheduleID || r.Owner != owner {
			b.t.Fatalf("run %s: schedule %q owner %q, want %s and %s", r.ID, r.ScheduleID, r.Owner, scheduleID, owner)
		}
		out = append(out, r.IdempotencyKey[len(scheduleID)+1:])
	}
	slices.Sort(out)
	return out
}

// server is the API as `flotilla serve` mounts it, with /v1/schedules.
func (b *bundle) server() string {
	h := api.NewServer(api.Deps{
		Runs: b.runs, Store: b.runs.Store, Schedules: b.svc, NowFunc: b.clock.Now,
		// The caller is the schedules' owner unless the test names another.
		Owner: func(r *http.Request) (string, error) {
			if c := r.Header.Get("X-Test-Caller"); c != "" {
				return c, nil
			}
			return owner, nil
		},
		IsAdmin:    func(r *http.Request) bool { return r.Header.Get("X-Test-Admin") == "1" },
		AdminGroup: "flotilla-admins",
	})
	srv := httptest.NewServer(h)
	b.t.Cleanup(srv.Close)
	return srv.URL
}
