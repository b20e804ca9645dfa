// Package ids makes Flotilla's identifiers: a prefix and a ULID, so ids sort
// by creation time ("run_01JD…" sorts before a later run's id).
package ids

import (
	"crypto/rand"
	"fmt"
	"strings"
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

// Child returns the id of child index of the run parent (an array's
// child): the parent's ULID with index+1 added to its entropy above the
// low 32 bits. It is the same every time it is asked, so materialising a
// child twice finds the first; children sort after their parent and in
// index order; and the low 32 bits keep clear of ids the monotonic reader
// makes in the same millisecond (it adds at most 2^32 each time). The
// sum wraps within the 80 bits of entropy, so it stays unique per index.
func Child(parent string, index int) (string, error) {
	if index < 0 || index >= 1<<30 {
		return "", fmt.Errorf("child %d of %s: index out of range", index, parent)
	}
	p, ok := strings.CutPrefix(parent, Run)
	if !ok {
		return "", fmt.Errorf("child %d of %s: not a run id", index, parent)
	}
	u, err := ulid.ParseStrict(p)
	if err != nil {
		return "", fmt.Errorf("child %d of %s: %w", index, parent, err)
	}
	// Entropy is bytes 6..15, big-endian; add (index+1) << 32.
	carry := uint64(index+1) << 32
	for i := 15; i >= 6 && carry > 0; i-- {
		sum := uint64(u[i]) + carry&0xff
		u[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	return Run + u.String(), nil
}
