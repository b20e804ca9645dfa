package runs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Dispatch handles one queue message: it admits the message's run (or,
// when another owner's turn comes first, that owner's oldest run) to a
// cluster slot and starts it on the engine. It returns nil when the message
// is done with — including when the run must wait for room, which is
// recorded on the run, not retried through the queue — and an error only
// when the message should be delivered again.
func (s *Service) Dispatch(ctx context.Context, m flotilla.Message) error {
	if m.Kind == flotilla.MessageArray {
		return s.WorkArray(ctx, m.RunID)
	}
	r, err := s.Store.GetRun(ctx, m.RunID)
	if errors.Is(err, flotilla.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dispatch run %s: %w", m.RunID, err)
	}
	if r.Status != flotilla.StatusQueued || r.Attempt != m.Attempt {
		return nil // stale or duplicate message: the run moved on
	}
	if stop, err := s.parentStopped(ctx, r); err != nil || stop {
		return err
	}
	c, err := s.Cluster(r.Cluster)
	if err != nil {
		return fmt.Errorf("dispatch run %s: %w", r.ID, err)
	}
	usage, err := s.Store.ClusterUsage(ctx, c.Name)
	if err != nil {
		return fmt.Errorf("dispatch run %s: %w", r.ID, err)
	}
	if c.MaxRunning > 0 && usage.Running >= c.MaxRunning {
		// Visibly full: record the wait without trying the admission write.
		s.markWaiting(ctx, r, flotilla.WaitNoFreeSlot, fmt.Sprintf("waiting for a free slot: %d of %d running on cluster %s", usage.Running, c.MaxRunning, c.Name))
		return nil
	}
	{
		if next, err := s.fairNext(ctx, c, usage, r); err != nil {
			return err
		} else if next.ID != r.ID {
			s.markWaiting(ctx, r, flotilla.WaitOwnerTurn,
				fmt.Sprintf("waiting for its turn: other owners on cluster %s have fewer runs going than %s", c.Name, r.Owner))
			if err := s.admit(ctx, c, next); err != nil {
				return err
			}
			// Room may remain for r too: let the turns decide.
			return s.Readmit(ctx, c.Name)
		}
	}
	return s.admit(ctx, c, r)
}

// fairNext returns the run whose turn it is: of the owners with runs
// waiting, the one holding the fewest slots goes first (ties: the oldest
// waiting run). r goes unless another owner is strictly behind r's owner.
func (s *Service) fairNext(ctx context.Context, c flotilla.Cluster, usage flotilla.Usage, r flotilla.Run) (flotilla.Run, error) {
	heads, err := s.Store.OldestQueuedPerOwner(ctx, c.Name, maxOwnersPerTurn)
	if err != nil {
		return r, fmt.Errorf("dispatch run %s: %w", r.ID, err)
	}
	best := r
	for _, h := range heads {
		if h.Owner != best.Owner && usage.RunningOwner[h.Owner] < usage.RunningOwner[best.Owner] {
			best = h
		}
	}
	return best, nil
}

// maxOwnersPerTurn bounds how many owners' heads one admission looks at.
const maxOwnersPerTurn = 1000

// admit takes a slot for r and starts it.
func (s *Service) admit(ctx context.Context, c flotilla.Cluster, r flotilla.Run) error {
	admitted, err := s.transition(ctx, flotilla.Transition{
		RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, Attempt: r.Attempt, To: flotilla.StatusPending,
		At: s.now(), Source: flotilla.SourceDispatcher, Reason: "starting on cluster " + c.Name,
		MaxRunning: c.MaxRunning, MaxRunningPerOwner: c.MaxRunningPerOwner,
	})
	switch {
	case errors.Is(err, flotilla.ErrNoCapacity):
		s.waitForSlot(ctx, c, r)
		return nil
	case errors.Is(err, flotilla.ErrConflict), errors.Is(err, flotilla.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("dispatch run %s: admit: %w", r.ID, err)
	}
	s.log().Debug("admitted", "run_id", r.ID, "cluster", c.Name, "owner", r.Owner)
	return s.start(ctx, admitted)
}

// waitForSlot records why r waits after its admission was refused.
func (s *Service) waitForSlot(ctx context.Context, c flotilla.Cluster, r flotilla.Run) {
	usage, err := s.Store.ClusterUsage(ctx, c.Name)
	if err == nil && c.MaxRunningPerOwner > 0 && usage.RunningOwner[r.Owner] >= c.MaxRunningPerOwner && usage.Running < c.MaxRunning {
		s.markWaiting(ctx, r, flotilla.WaitOwnerTurn, fmt.Sprintf("waiting for its turn: %s already has %d of the %d runs one owner may have going on cluster %s",
			r.Owner, usage.RunningOwner[r.Owner], c.MaxRunningPerOwner, c.Name))
		return
	}
	s.markWaiting(ctx, r, flotilla.WaitNoFreeSlot, fmt.Sprintf("waiting for a free slot: %d of %d running on cluster %s", usage.Running, c.MaxRunning, c.Name))
}

// markWaiting notes on a QUEUED run why it waits; the life story gets an
// entry only when the wait reason changes, and nothing is written when
// nothing changed.
func (s *Service) markWaiting(ctx context.Context, r flotilla.Run, wait flotilla.WaitReason, reason string) {
	if r.WaitReason == wait && r.StatusReason == reason {
		return
	}
	_, err := s.transition(ctx, flotilla.Transition{
		RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusQueued}, Attempt: r.Attempt, To: flotilla.StatusQueued,
		At: s.now(), Source: flotilla.SourceDispatcher, Reason: reason, WaitReason: wait, Event: r.WaitReason != wait,
	})
	if err != nil && !errors.Is(err, flotilla.ErrConflict) {
		s.log().Warn("could not record the wait reason", "run_id", r.ID, "err", err)
	}
}

// start hands an admitted (PENDING) run to the engine.
func (s *Service) start(ctx context.Context, r flotilla.Run) error {
	task, err := s.Executor.Start(ctx, r)
	var capErr *flotilla.CapacityError
	switch {
	case err == nil:
		updated, err := s.transition(ctx, flotilla.Transition{
			RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, Attempt: r.Attempt, To: flotilla.StatusPending,
			At: s.now(), Source: flotilla.SourceDispatcher, TaskID: task.ID, Engine: task.Engine,
			Reason: "starting on " + task.Engine + " (task " + task.ID + ")",
		})
		if err == nil && updated.StopRequest != nil {
			// A stop arrived while the task was being started.
			return s.stopTask(ctx, updated)
		}
		if err != nil && !errors.Is(err, flotilla.ErrConflict) {
			// The task runs; its events (or the sweep) will record it.
			s.log().Warn("could not record the task", "run_id", r.ID, "task", task.ID, "err", err)
		}
		return nil
	case errors.As(err, &capErr):
		return s.unadmit(ctx, r, capErr.Wait, "waiting for engine capacity: "+capErr.Detail)
	case errors.Is(err, flotilla.ErrThrottled):
		return s.unadmit(ctx, r, flotilla.WaitLaunchThrottle, "waiting: the engine is throttling launches")
	case errors.Is(err, flotilla.ErrInvalid):
		_, terr := s.end(ctx, r, flotilla.Transition{From: []flotilla.RunStatus{flotilla.StatusPending}, To: flotilla.StatusFailed,
			Source: flotilla.SourceDispatcher, ReasonCode: flotilla.ReasonCouldNotStart, Reason: "could not start: " + err.Error()})
		return terr
	default:
		s.log().Warn("engine start failed; will retry", "run_id", r.ID, "err", err)
		return s.unadmit(ctx, r, flotilla.WaitLaunchThrottle, "waiting: could not reach the engine ("+err.Error()+"); retrying")
	}
}

// unadmit gives the slot back: the run never started and waits again.
// The sweep admits it when the engine has room.
func (s *Service) unadmit(ctx context.Context, r flotilla.Run, wait flotilla.WaitReason, reason string) error {
	_, err := s.transition(ctx, flotilla.Transition{
		RunID: r.ID, From: []flotilla.RunStatus{flotilla.StatusPending}, Attempt: r.Attempt, To: flotilla.StatusQueued,
		At: s.now(), Source: flotilla.SourceDispatcher, Reason: reason, WaitReason: wait,
	})
	if err != nil && !errors.Is(err, flotilla.ErrConflict) {
		return fmt.Errorf("dispatch run %s: give the slot back: %w", r.ID, err)
	}
	return nil
}

// Readmit sends the runs whose turn it is to the cluster's queue, one per
// free slot: owners in turns (fewest slots held first), each owner's oldest
// run first, then the oldest runs overall.
func (s *Service) Readmit(ctx context.Context, cluster string) error {
	c, err := s.Cluster(cluster)
	if err != nil {
		return err
	}
	usage, err := s.Store.ClusterUsage(ctx, cluster)
	if err != nil {
		return fmt.Errorf("readmit on %s: %w", cluster, err)
	}
	free := c.MaxRunning - usage.Running
	if c.MaxRunning == 0 {
		free = maxOwnersPerTurn
	}
	if free <= 0 || usage.Queued == 0 {
		return nil
	}
	heads, err := s.Store.OldestQueuedPerOwner(ctx, cluster, maxOwnersPerTurn)
	if err != nil {
		return fmt.Errorf("readmit on %s: %w", cluster, err)
	}
	held := func(r flotilla.Run) int { return usage.RunningOwner[r.Owner] }
	slices.SortStableFunc(heads, func(a, b flotilla.Run) int { return held(a) - held(b) })
	picked := heads[:min(free, len(heads))]
	if len(picked) < free {
		oldest, err := s.Store.ListQueued(ctx, cluster, free)
		if err != nil {
			return fmt.Errorf("readmit on %s: %w", cluster, err)
		}
		for _, r := range oldest {
			if len(picked) < free && !slices.ContainsFunc(picked, func(p flotilla.Run) bool { return p.ID == r.ID }) {
				picked = append(picked, r)
			}
		}
	}
	if len(picked) == 0 {
		return nil
	}
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	msgs := make([]flotilla.Message, len(picked))
	for i, r := range picked {
		msgs[i] = message(r, suffix)
	}
	if err := s.Queue.Send(ctx, msgs...); err != nil {
		return fmt.Errorf("readmit on %s: %w", cluster, err)
	}
	return nil
}

// Consume receives the cluster's messages and dispatches them until ctx
// ends: local mode's stand-in for the SQS event source mapping.
func (s *Service) Consume(ctx context.Context, cluster string) {
	for ctx.Err() == nil {
		ds, err := s.Queue.Receive(ctx, cluster, 10, 20*time.Second)
		if err != nil {
			if ctx.Err() == nil {
				s.log().Error("receive failed", "cluster", cluster, "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		for _, d := range ds {
			if err := s.Dispatch(ctx, d.Message); err != nil {
				s.log().Error("dispatch failed; the message will be retried", "run_id", d.RunID, "cluster", cluster, "err", err)
				continue
			}
			if err := s.Queue.Delete(ctx, cluster, d.Receipt); err != nil {
				s.log().Warn("delete failed", "run_id", d.RunID, "err", err)
			}
		}
	}
}

// parentStopped stops r instead of admitting it when the run it was
// launched from is being stopped or has ended so that its descendants are
// stopped (cascades): a cascade that missed r (a crash between two
// writes, a batch of an array's children written after the stop looked)
// is completed here, before r can start.
func (s *Service) parentStopped(ctx context.Context, r flotilla.Run) (bool, error) {
	if r.Parent == "" {
		return false, nil
	}
	p, err := s.Store.GetRun(ctx, r.Parent)
	if errors.Is(err, flotilla.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("dispatch run %s: its parent: %w", r.ID, err)
	}
	if !cascades(p) {
		return false, nil
	}
	if _, err := s.stopOne(ctx, r.ID, "flotilla (its parent "+p.ID+" was stopped)"); err != nil && !errors.Is(err, flotilla.ErrConflict) {
		return false, fmt.Errorf("dispatch run %s: %w", r.ID, err)
	}
	// The next queued runs take the turn it held (they may be its siblings).
	return true, s.Readmit(ctx, r.Cluster)
}

// cascades reports whether p's descendants that have not ended must stop:
// it is being stopped, or ended STOPPED or by its timeout, or it is an
// array's parent that has ended (it ends only after its children, so a
// child still queued then was missed).
func cascades(p flotilla.Run) bool {
	return p.StopRequest != nil || p.Status == flotilla.StatusStopped || p.ReasonCode == flotilla.ReasonRunTimeout ||
		(p.Array != nil && p.Status.Terminal())
}
