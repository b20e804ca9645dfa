package runs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Stop stops a run for who. A QUEUED run becomes STOPPED at once; a started
// one is asked to stop and becomes STOPPED when its task ends. A finished
// run is a conflict. The runs launched from it (its children, theirs, …)
// that have not ended are stopped too.
func (s *Service) Stop(ctx context.Context, runID, who string) (flotilla.Run, error) {
	r, err := s.stopOne(ctx, runID, who)
	if err != nil {
		return r, err
	}
	if r.Array != nil && !r.Status.Terminal() {
		return r, nil // its children are stopped by the array's messages (WorkArray)
	}
	s.stopDescendants(ctx, r.ID, who, map[string]bool{r.ID: true})
	return r, nil
}

// maxCascade bounds the runs one stop reaches through its descendants.
const maxCascade = 10000

// stopDescendants stops the children of parent that have not ended, and
// theirs; seen guards against a run met twice. A child that cannot be
// stopped is logged and skipped: the parent's stop stands.
func (s *Service) stopDescendants(ctx context.Context, parent, who string, seen map[string]bool) {
	f := flotilla.RunFilter{Parent: parent, Limit: 500, Statuses: flotilla.ActiveStatuses}
	for len(seen) < maxCascade {
		page, err := s.Store.ListRuns(ctx, f)
		if err != nil {
			s.log().Warn("the children of a stopped run could not be listed", "run_id", parent, "err", err)
			return
		}
		for _, c := range page.Items {
			if seen[c.ID] || c.Parent != parent {
				continue
			}
			seen[c.ID] = true
			stopped, err := s.stopOne(ctx, c.ID, who+" (with its parent "+parent+")")
			if err != nil && !errors.Is(err, flotilla.ErrConflict) {
				s.log().Warn("a child of a stopped run was not stopped", "run_id", c.ID, "parent", parent, "err", err)
			}
			if err == nil && stopped.Array != nil && !stopped.Status.Terminal() {
				continue // an array: its own messages stop its children
			}
			s.stopDescendants(ctx, c.ID, who, seen)
		}
		if page.NextToken == "" {
			return
		}
		f.NextToken = page.NextToken
	}
}

func (s *Service) stopOne(ctx context.Context, runID, who string) (flotilla.Run, error) {
	for range 5 { // the run may move while we look at it
		r, err := s.Store.GetRun(ctx, runID)
		if err != nil {
			return flotilla.Run{}, fmt.Errorf("stop run %s: %w", runID, err)
		}
		switch {
		case r.Status.Terminal():
			return r, fmt.Errorf("run %s already ended (%s): %w", runID, r.Status, flotilla.ErrConflict)
		case r.Status == flotilla.StatusWaiting && r.Array != nil && r.WaitReason == flotilla.WaitChildren:
			if r.StopRequest != nil {
				s.sendArray(ctx, r, "stop"+strconv.FormatInt(time.Now().UnixNano(), 36))
				return r, nil
			}
			// An array with children: they are stopped a batch at a time
			// by the array's messages, and it ends when they all have.
			now := s.now()
			asked, err := s.transition(ctx, flotilla.Transition{
				RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusWaiting}, To: flotilla.StatusWaiting, At: now,
				Source: flotilla.SourceAPI, Event: true, Reason: "stopping its children (asked by " + who + ")",
				StopRequest: &flotilla.StopRequest{By: who, Code: flotilla.ReasonStopped, Reason: "stopped by " + who, At: now},
			})
			if errors.Is(err, flotilla.ErrConflict) {
				continue
			}
			if err != nil {
				return flotilla.Run{}, fmt.Errorf("stop run %s: %w", runID, err)
			}
			s.sendArray(ctx, asked, "stop"+strconv.FormatInt(now.UnixNano(), 36))
			return asked, nil
		case r.Status == flotilla.StatusWaiting || r.Status == flotilla.StatusQueued:
			stopped, err := s.transition(ctx, flotilla.Transition{
				RunID: r.ID, From: []flotilla.RunStatus{r.Status}, Attempt: r.Attempt, To: flotilla.StatusStopped,
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
			asked, err := s.transition(ctx, flotilla.Transition{
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
