package embedded

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestMigrationToPipelines opens a database made before migration 3 (runs
// that name their parent only in their body), and checks that migration 3
// gives them the parent column, the children's counts and the filter.
func TestMigrationToPipelines(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	all := migrations
	migrations = all[:2]
	db, err := OpenDB(ctx, dir)
	if err != nil {
		migrations = all
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	old := func(id, parent string, st flotilla.RunStatus) {
		r := flotilla.Run{ID: id, Parent: parent, Status: st, Cluster: "default", Owner: "ana", QueuedAt: at, Attempt: 1}
		body, _ := json.Marshal(r)
		if _, err := db.write.ExecContext(ctx, `INSERT INTO runs(id, cluster, status, definition_id, owner, schedule_id, queued_at, idempotency_key, body)
			VALUES (?,?,?,?,?,?,?,?,?)`, id, "default", st, "def_x", "ana", "", at.UnixNano(), "", body); err != nil {
			t.Fatal(err)
		}
	}
	old("run_01JD0000000000000000000001", "", flotilla.StatusRunning)
	old("run_01JD0000000000000000000002", "run_01JD0000000000000000000001", flotilla.StatusSucceeded)
	old("run_01JD0000000000000000000003", "run_01JD0000000000000000000001", flotilla.StatusRunning)
	db.Close()
	migrations = all

	db, err = OpenDB(ctx, dir)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	s := NewStore(db)
	page, err := s.ListRuns(ctx, flotilla.RunFilter{Parent: "run_01JD0000000000000000000001"})
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("children after the migration: %d, %v", len(page.Items), err)
	}
	sum, err := s.ChildSummary(ctx, "run_01JD0000000000000000000001")
	if err != nil || sum.Counts[flotilla.StatusSucceeded] != 1 || sum.Counts[flotilla.StatusRunning] != 1 || sum.Ended != 1 {
		t.Fatalf("summary after the migration: %+v, %v", sum, err)
	}
	if _, err := s.TransitionRun(ctx, flotilla.Transition{RunID: "run_01JD0000000000000000000003", From: []flotilla.RunStatus{flotilla.StatusRunning},
		To: flotilla.StatusFailed, At: at, Source: flotilla.SourceEngine}); err != nil {
		t.Fatal(err)
	}
	if sum, _ := s.ChildSummary(ctx, "run_01JD0000000000000000000001"); sum.Counts[flotilla.StatusFailed] != 1 || sum.Counts[flotilla.StatusRunning] != 0 || sum.Ended != 2 {
		t.Fatalf("summary after a child ended: %+v", sum)
	}
}
