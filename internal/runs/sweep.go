package runs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Sweep is the periodic safety net, for every cluster: it fails runs that
// waited longer than the queue timeout, asks runs past their run timeout
// to stop, reconciles active runs with the engine (events that never came,
// starts that a crash interrupted, tasks the engine lost) and re-admits
// waiting runs into free slots. With recovering set (a local server just
// started) every active run is checked, however young.
func (s *Service) Sweep(ctx context.Context, recovering bool) error {
	var errs []error
	for _, name := range s.ClusterNames() {
		if err := s.sweepCluster(ctx, s.Clusters[name], recovering); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) sweepCluster(ctx context.Context, c flotilla.Cluster, recovering bool) error {
	now := s.now()
	queued, err := s.Store.ListQueued(ctx, c.Name, 500)
	if err != nil {
		return fmt.Errorf("sweep %s: %w", c.Name, err)
	}
	limit := c.EffectiveQueueTimeout()
	for _, r := range queued {
		since := r.QueuedAt
		if cur := r.Current(); cur != nil {
			since = cur.QueuedAt
		}
		if now.Sub(since) > limit {
			_, err := s.transition(ctx, flotilla.Transition{
				RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, Attempt: r.Attempt, To: flotilla.StatusFailed,
				At: now, Source: flotilla.SourceSweep, ReasonCode: flotilla.ReasonQueueTimeout,
				Reason: fmt.Sprintf("waited in the queue longer than %s", limit),
			})
			if err != nil && !errors.Is(err, flotilla.ErrConflict) {
				return fmt.Errorf("sweep %s: queue timeout of %s: %w", c.Name, r.ID, err)
			}
		}
	}

	if err := s.sweepWaiting(ctx, c, now, recovering); err != nil {
		return err
	}
	f := flotilla.RunFilter{Cluster: c.Name, Statuses: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning}, Limit: 500}
	for {
		page, err := s.Store.ListRuns(ctx, f)
		if err != nil {
			return fmt.Errorf("sweep %s: %w", c.Name, err)
		}
		for _, r := range page.Items {
			if err := s.sweepRun(ctx, r, now, recovering); err != nil {
				s.log().Warn("sweep of a run failed", "run_id", r.ID, "cluster", c.Name, "err", err)
			}
		}
		if page.NextToken == "" {
			break
		}
		f.NextToken = page.NextToken
	}
	return s.Readmit(ctx, c.Name)
}

func (s *Service) sweepRun(ctx context.Context, r flotilla.Run, now time.Time, recovering bool) error {
	if r.Status == flotilla.StatusRunning && r.TimeoutSeconds > 0 && r.StopRequest == nil && r.StartedAt != nil &&
		now.Sub(*r.StartedAt) > time.Duration(r.TimeoutSeconds)*time.Second {
		limit := time.Duration(r.TimeoutSeconds) * time.Second
		asked, err := s.transition(ctx, flotilla.Transition{
			RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusRunning}, Attempt: r.Attempt, To: flotilla.StatusRunning,
			At: now, Source: flotilla.SourceSweep, Event: true, Reason: fmt.Sprintf("stopping: timed out after %s", limit),
			StopRequest: &flotilla.StopRequest{By: "sweep", Code: flotilla.ReasonRunTimeout, Reason: fmt.Sprintf("timed out after %s", limit), At: now},
		})
		if err != nil {
			return ignoreConflict(err)
		}
		return s.stopTask(ctx, asked)
	}
	cur := r.Current()
	young := cur != nil && now.Sub(cur.QueuedAt) < s.stuckAfter() && (cur.StartedAt == nil || now.Sub(*cur.StartedAt) < s.stuckAfter())
	if young && !recovering {
		return nil
	}
	ev, err := s.Executor.Describe(ctx, r)
	switch {
	case errors.Is(err, flotilla.ErrNotFound) && (cur == nil || cur.TaskID == ""):
		if r.StopRequest != nil {
			_, err := s.end(ctx, r, flotilla.Transition{From: []flotilla.RunStatus{r.Status}, To: flotilla.StatusStopped, Source: flotilla.SourceSweep,
				ReasonCode: r.StopRequest.Code, Reason: r.StopRequest.Reason + " before it started"})
			return ignoreConflict(err)
		}
		// Admitted but its start was interrupted: start it (idempotently).
		return s.start(ctx, r)
	case errors.Is(err, flotilla.ErrNotFound):
		_, err := s.end(ctx, r, flotilla.Transition{From: []flotilla.RunStatus{r.Status}, To: flotilla.StatusFailed, Source: flotilla.SourceSweep,
			ReasonCode: flotilla.ReasonLost, Reason: "lost: the engine has no record of task " + cur.TaskID})
		return ignoreConflict(err)
	case err != nil:
		return err
	}
	if ev.State == flotilla.TaskRunning && r.StopRequest != nil && now.Sub(r.StopRequest.At) > 2*time.Minute {
		if err := s.stopTask(ctx, r); err != nil {
			return err
		}
	}
	return s.reconcile(ctx, ev, flotilla.SourceSweep)
}

func ignoreConflict(err error) error {
	if errors.Is(err, flotilla.ErrConflict) {
		return nil
	}
	return err
}

// Loop runs the sweep every interval until ctx ends; local mode's stand-in
// for the EventBridge schedule.
func (s *Service) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sweep(ctx, false); err != nil && ctx.Err() == nil {
				s.log().Warn("sweep failed", "err", err)
			}
		}
	}
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
