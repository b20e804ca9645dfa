package embedded_test

import (
	"context"
	"testing"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

func openDB(t *testing.T) *embedded.DB {
	t.Helper()
	db, err := embedded.OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	flotillatest.TestStore(t, func(t *testing.T) flotilla.Store { return embedded.NewStore(openDB(t)) })
}
