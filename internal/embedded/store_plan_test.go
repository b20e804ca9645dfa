package embedded

import (
	"context"
	"strings"
	"testing"
)

// TestIdempotencyLookupUsesItsIndex: a launch with an idempotency key
// looks the key up through the partial unique index, not by scanning the
// owner's runs (which made 10,000 keyed launches by one owner quadratic).
func TestIdempotencyLookupUsesItsIndex(t *testing.T) {
	t.Parallel()
	db, err := OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.read.Query("EXPLAIN QUERY PLAN "+runByIdempotencyKey, "alice", "k1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "INDEX runs_idempotency") {
		t.Fatalf("the idempotency lookup's plan is %q, want it to use runs_idempotency", got)
	}
}
