package runs

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Service runs the use cases on the ports it is given.
type Service struct {
	Store    flotilla.Store
	Queue    flotilla.Queue
	Executor flotilla.Executor
	Logs     flotilla.LogReader
	// Clusters are the configured clusters by name.
	Clusters map[string]flotilla.Cluster
	// DefaultCluster is used when a launch names none.
	DefaultCluster string
	// Rates, when set, price every run; by default each run is priced at
	// flotilla.FargateRates of its architecture and capacity.
	Rates flotilla.Rates
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
	Log     *slog.Logger
	// StuckAfter is how long a PENDING run may go without a known task
	// before the sweep starts it again (idempotently). Default 1 minute.
	StuckAfter time.Duration

	mu      sync.Mutex
	medians map[string]medianEntry
	// waitingCursor is where each cluster's sweep of WAITING runs goes on.
	waitingCursor map[string]string
}

func (s *Service) now() time.Time {
	if s.NowFunc != nil {
		return s.NowFunc().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// rates prices a task on arch and capacity (TaskEvent.Capacity).
func (s *Service) rates(arch, capacity string) flotilla.Rates {
	if s.Rates != (flotilla.Rates{}) {
		return s.Rates
	}
	return flotilla.FargateRates(arch, capacity == "FARGATE_SPOT")
}

func (s *Service) stuckAfter() time.Duration {
	if s.StuckAfter > 0 {
		return s.StuckAfter
	}
	return time.Minute
}

// Cluster returns a configured cluster.
func (s *Service) Cluster(name string) (flotilla.Cluster, error) {
	c, ok := s.Clusters[name]
	if !ok {
		return flotilla.Cluster{}, flotilla.Invalid("cluster", "no cluster named %q (clusters: %s)", name, s.clusterNames())
	}
	return c, nil
}

func (s *Service) clusterNames() string {
	names := make([]string, 0, len(s.Clusters))
	for n := range s.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// ClusterNames lists the configured clusters, sorted.
func (s *Service) ClusterNames() []string {
	names := make([]string, 0, len(s.Clusters))
	for n := range s.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
