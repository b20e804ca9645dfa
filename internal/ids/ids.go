// Package ids makes Flotilla's identifiers: a prefix and a ULID, so ids sort
// by creation time ("run_01JD…" sorts before a later run's id).
package ids

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the identifiers Flotilla makes.
const (
	Definition = "def_"
	Run        = "run_"
	Schedule   = "sch_"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns prefix + a ULID for t. Ids made in the same millisecond by
// one process still sort in the order they were made.
func New(prefix string, t time.Time) string {
	mu.Lock()
	defer mu.Unlock()
	return prefix + ulid.MustNew(ulid.Timestamp(t), entropy).String()
}

// Time returns the time encoded in an id made by New.
func Time(id string, prefix string) (time.Time, bool) {
	if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
		return time.Time{}, false
	}
	u, err := ulid.ParseStrict(id[len(prefix):])
	if err != nil {
		return time.Time{}, false
	}
	return ulid.Time(u.Time()), true
}
