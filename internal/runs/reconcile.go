package runs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Reconcile applies an engine's task event to its run. Events come at least
// once and out of order: every write is conditional on the status the event
// moves the run from, so a duplicate or late event changes nothing. A task
// that ended frees its slot (exactly once: the terminal write is
// conditional) and the waiting runs whose turn it is are re-admitted;
// infrastructure failures go back to the queue as a new attempt.
func (s *Service) Reconcile(ctx context.Context, ev flotilla.TaskEvent) error {
	return s.reconcile(ctx, ev, flotilla.SourceEngine)
}

// reconcile applies ev as source saw it: the engine's own events
// (SourceEngine), or the sweep's reading of the engine (SourceSweep), so
// that a run's life story tells whether task events reached Flotilla.
func (s *Service) reconcile(ctx context.Context, ev flotilla.TaskEvent, source flotilla.EventSource) error {
	// A conflict means the run changed between the read and the write (a
	// stop request, a duplicate event): read it again and decide again.
	for range 3 {
		err := s.reconcileOnce(ctx, ev, source)
		if !errors.Is(err, flotilla.ErrConflict) {
			return err
		}
	}
	return nil
}

func (s *Service) reconcileOnce(ctx context.Context, ev flotilla.TaskEvent, source flotilla.EventSource) error {
	r, err := s.Store.GetRun(ctx, ev.RunID)
	if errors.Is(err, flotilla.ErrNotFound) {
		return nil // not ours, or deleted
	}
	if err != nil {
		return fmt.Errorf("reconcile run %s: %w", ev.RunID, err)
	}
	if r.Status.Terminal() || !s.sameAttempt(r, ev) {
		return nil
	}
	active := []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning}
	switch ev.State {
	case flotilla.TaskPending:
		if r.Status == flotilla.StatusPending && r.Current().TaskID == "" && ev.TaskID != "" {
			_, err = s.transition(ctx, flotilla.Transition{RunID: r.ID, From: active[:1], Attempt: r.Attempt, To: flotilla.StatusPending,
				At: s.now(), Source: source, TaskID: ev.TaskID, Reason: "provisioning (task " + ev.TaskID + ")"})
		}
	case flotilla.TaskRunning:
		if r.Status == flotilla.StatusPending {
			_, err = s.transition(ctx, flotilla.Transition{RunID: r.ID, From: active[:1], Attempt: r.Attempt, To: flotilla.StatusRunning,
				At: eventTime(ev, s.now()), Source: source, TaskID: ev.TaskID, Reason: "running", Capacity: ev.Capacity})
		}
	case flotilla.TaskStopped:
		if !r.Status.HoldsSlot() {
			return nil // a task of a run that waits again (never admitted now)
		}
		out := flotilla.DecideOutcome(r, ev)
		if out.Retry {
			err = s.retry(ctx, r, ev, out, source)
			break
		}
		_, err = s.end(ctx, r, flotilla.Transition{From: active, To: out.To, Source: source,
			ReasonCode: out.Code, Reason: out.Reason, ExitCode: out.ExitCode, TaskID: ev.TaskID, At: eventTime(ev, s.now()),
			NoStopRequest: r.StopRequest == nil, Capacity: ev.Capacity})
		if errors.Is(err, flotilla.ErrConflict) {
			return err // decide again on a fresh read
		}
	}
	if err != nil && !errors.Is(err, flotilla.ErrConflict) {
		return fmt.Errorf("reconcile run %s: %w", r.ID, err)
	}
	return nil
}

// sameAttempt reports whether ev is about r's current attempt.
func (s *Service) sameAttempt(r flotilla.Run, ev flotilla.TaskEvent) bool {
	if ev.Attempt != 0 {
		return ev.Attempt == r.Attempt
	}
	cur := r.Current()
	if cur == nil || cur.TaskID == "" || ev.TaskID == "" {
		return true
	}
	return cur.TaskID == ev.TaskID
}

func eventTime(ev flotilla.TaskEvent, now time.Time) time.Time {
	if ev.At.IsZero() {
		return now
	}
	return ev.At.UTC()
}

// end moves an active run to a terminal status with its cost, and re-admits
// the waiting runs of its cluster into the freed slot.
func (s *Service) end(ctx context.Context, r flotilla.Run, t flotilla.Transition) (flotilla.Run, error) {
	t.RunID, t.Attempt = r.ID, r.Attempt
	if t.At.IsZero() {
		t.At = s.now()
	}
	if r.StartedAt != nil {
		capacity := t.Capacity
		if cur := r.Current(); capacity == "" && cur != nil {
			capacity = cur.Capacity
		}
		c := s.rates(r.Architecture, capacity).Cost(r.CPU, r.Memory, t.At.Sub(*r.StartedAt))
		t.CostUSD = &c
	}
	ended, err := s.transition(ctx, t)
	if err != nil {
		return flotilla.Run{}, err
	}
	s.log().Info("run ended", "run_id", r.ID, "cluster", r.Cluster, "status", ended.Status, "reason", ended.StatusReason)
	// A run stopped any way (outside Flotilla, by its timeout, by a stop
	// whose cascade was interrupted) takes the runs launched from it along.
	if ended.Status == flotilla.StatusStopped || ended.ReasonCode == flotilla.ReasonRunTimeout {
		s.stopDescendants(ctx, ended.ID, "flotilla", map[string]bool{ended.ID: true})
	}
	if r.Status.HoldsSlot() {
		if err := s.Readmit(ctx, r.Cluster); err != nil {
			s.log().Warn("readmit failed; the sweep will retry", "cluster", r.Cluster, "err", err)
		}
	}
	return ended, nil
}

// retry sends the run back to its queue as a new attempt.
func (s *Service) retry(ctx context.Context, r flotilla.Run, ev flotilla.TaskEvent, out flotilla.Outcome, source flotilla.EventSource) error {
	t := flotilla.Transition{
		RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending, flotilla.StatusRunning}, Attempt: r.Attempt,
		To: flotilla.StatusQueued, NewAttempt: true, Memory: out.Memory, At: eventTime(ev, s.now()), Source: source,
		Reason: out.Reason, WaitReason: flotilla.WaitNoFreeSlot, TaskID: ev.TaskID,
	}
	// Spot reclaimed this run's task once too often: its next attempt runs
	// on the cluster's on-demand twin.
	if twin := s.Clusters[r.Cluster].SpotFallback; out.Spot && twin != "" && flotilla.SpotInterruptions(r)+1 >= flotilla.SpotFallbackAfter {
		if _, ok := s.Clusters[twin]; ok {
			t.Cluster = twin
			t.Reason += fmt.Sprintf("; interrupted by Spot %d times, it continues on the on-demand cluster %s", flotilla.SpotInterruptions(r)+1, twin)
		}
	}
	next, err := s.transition(ctx, t)
	if err != nil {
		return err
	}
	if err := s.Queue.Send(ctx, message(next, "")); err != nil {
		s.log().Warn("queue send failed; the sweep will admit the run", "run_id", r.ID, "err", err)
	}
	if next.Cluster != r.Cluster {
		if err := s.Readmit(ctx, next.Cluster); err != nil {
			return err
		}
	}
	return s.Readmit(ctx, r.Cluster)
}
