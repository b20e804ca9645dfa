package awsecs

import (
	"context"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Clusters routes each run to the Executor of its cluster (by Flotilla
// cluster name), for a process that dispatches to several clusters.
type Clusters map[string]*Executor

var _ flotilla.Executor = Clusters(nil)

func (c Clusters) executor(r flotilla.Run) (*Executor, error) {
	if e, ok := c[r.Cluster]; ok {
		return e, nil
	}
	return nil, flotilla.Invalid("cluster", "no ECS settings for cluster %q", r.Cluster)
}

// Start starts the run on its cluster's executor.
func (c Clusters) Start(ctx context.Context, r flotilla.Run) (flotilla.Task, error) {
	e, err := c.executor(r)
	if err != nil {
		return flotilla.Task{}, err
	}
	return e.Start(ctx, r)
}

// Stop stops the run's task on its cluster's executor.
func (c Clusters) Stop(ctx context.Context, r flotilla.Run) error {
	e, err := c.executor(r)
	if err != nil {
		return err
	}
	return e.Stop(ctx, r)
}

// Describe describes the run's task on its cluster's executor.
func (c Clusters) Describe(ctx context.Context, r flotilla.Run) (flotilla.TaskEvent, error) {
	e, err := c.executor(r)
	if err != nil {
		return flotilla.TaskEvent{}, err
	}
	return e.Describe(ctx, r)
}
