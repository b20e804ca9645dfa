package runs

import (
	"context"
	"errors"
	"fmt"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Stop stops a run for who. A QUEUED run becomes STOPPED at once; a started
// one is asked to stop and becomes STOPPED when its task ends. A finished
// run is a conflict.
func (s *Service) Stop(ctx context.Context, runID, who string) (flotilla.Run, error) {
	for range 5 { // the run may move while we look at it
		r, err := s.Store.GetRun(ctx, runID)
		if err != nil {
			return flotilla.Run{}, fmt.Errorf("stop run %s: %w", runID, err)
		}
		switch {
		case r.Status.Terminal():
			return r, fmt.Errorf("run %s already ended (%s): %w", runID, r.Status, flotilla.ErrConflict)
		case r.Status == flotilla.StatusQueued:
			stopped, err := s.Store.TransitionRun(ctx, flotilla.Transition{
				RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, Attempt: r.Attempt, To: flotilla.StatusStopped,
				At: s.now(), Source: flotilla.SourceAPI, ReasonCode: flotilla.ReasonStopped, Reason: "stopped by " + who + " before it started",
			})
			if errors.Is(err, flotilla.ErrConflict) {
				continue
			}
			return stopped, err
		case r.StopRequest != nil:
			return r, s.stopTask(ctx, r) // asked again: ask the engine again
		default:
			now := s.now()
			asked, err := s.Store.TransitionRun(ctx, flotilla.Transition{
				RunID: r.ID, From: []flotilla.RunStatus{r.Status}, Attempt: r.Attempt, To: r.Status, At: now,
				Source: flotilla.SourceAPI, Event: true, Reason: "stopping (asked by " + who + ")",
				StopRequest: &flotilla.StopRequest{By: who, Code: flotilla.ReasonStopped, Reason: "stopped by " + who, At: now},
			})
			if errors.Is(err, flotilla.ErrConflict) {
				continue
			}
			if err != nil {
				return flotilla.Run{}, fmt.Errorf("stop run %s: %w", runID, err)
			}
			return asked, s.stopTask(ctx, asked)
		}
	}
	return flotilla.Run{}, fmt.Errorf("stop run %s: it kept changing: %w", runID, flotilla.ErrConflict)
}

// stopTask asks the engine to stop r's task. Without a task yet, the
// dispatcher sees the stop request once it has started one, and the sweep
// ends runs whose task never came.
func (s *Service) stopTask(ctx context.Context, r flotilla.Run) error {
	err := s.Executor.Stop(ctx, r)
	if err != nil && !errors.Is(err, flotilla.ErrNotFound) {
		return fmt.Errorf("stop run %s: %w", r.ID, err)
	}
	return nil
}
