package flotillatest

import (
	"fmt"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// Epoch is the fixed "now" the suites build their fixtures around.
var Epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// NewDefinition returns a valid definition with the given alias.
func NewDefinition(alias string) flotilla.Definition {
	d := flotilla.Definition{
		ID:        ids.New(ids.Definition, Epoch),
		Alias:     alias,
		Group:     "science",
		Image:     "alpine:3",
		Command:   "echo hi",
		CPU:       256,
		Memory:    512,
		Env:       map[string]string{"K": "V"},
		Secrets:   map[string]string{"TOKEN": "ssm:/suite/token"},
		Tags:      []string{"t1"},
		Revision:  1,
		CreatedAt: Epoch,
		UpdatedAt: Epoch,
	}
	d.Normalize()
	return d
}

// NewRun returns a QUEUED run of cluster and owner, queued at the given
// offset after Epoch (so ids and queue times sort together).
func NewRun(cluster, owner string, offset time.Duration) flotilla.Run {
	at := Epoch.Add(offset)
	return flotilla.Run{
		ID:           ids.New(ids.Run, at),
		DefinitionID: "def_suite",
		Alias:        "suite",
		Revision:     1,
		Cluster:      cluster,
		Status:       flotilla.StatusQueued,
		StatusReason: "waiting to be dispatched",
		Owner:        owner,
		Image:        "alpine:3",
		Command:      "echo hi",
		CPU:          256,
		Memory:       512,
		Env:          map[string]string{"K": "V"},
		Secrets:      map[string]string{"TOKEN": "ssm:/suite/token"},
		Tags:         []string{"t1"},
		Attempt:      1,
		MaxAttempts:  3,
		Attempts:     []flotilla.Attempt{{Attempt: 1, QueuedAt: at}},
		QueuedAt:     at,
	}
}

func ptr[T any](v T) *T { return &v }

func describe(r flotilla.Run) string {
	return fmt.Sprintf("%s[%s attempt %d]", r.ID, r.Status, r.Attempt)
}
