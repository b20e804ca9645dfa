package runs

import (
	"context"
	"log/slog"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Publishing wraps a store so that every run status change it stores (a
// new run, a transition to another status) is published after it is
// stored. The change is what counts: a failed publication is logged and
// the store's answer returned unchanged, so the run's life never waits on
// or fails for the publisher.
func Publishing(store flotilla.Store, p flotilla.RunChangePublisher, uiURL string, log *slog.Logger) flotilla.Store {
	if p == nil {
		return store
	}
	if log == nil {
		log = slog.Default()
	}
	return &publishingStore{Store: store, pub: p, uiURL: uiURL, log: log}
}

type publishingStore struct {
	flotilla.Store
	pub   flotilla.RunChangePublisher
	uiURL string
	log   *slog.Logger
}

func (s *publishingStore) CreateRun(ctx context.Context, r flotilla.Run) (flotilla.Run, bool, error) {
	stored, created, err := s.Store.CreateRun(ctx, r)
	if err == nil && created {
		s.publish(ctx, stored, stored.QueuedAt)
	}
	return stored, created, err
}

func (s *publishingStore) TransitionRun(ctx context.Context, t flotilla.Transition) (flotilla.Run, error) {
	r, err := s.Store.TransitionRun(ctx, t)
	// A transition that keeps the status (an annotation, a task id, a stop
	// request) is not a status change.
	if err == nil && (t.NewAttempt || !(len(t.From) == 1 && t.From[0] == t.To)) {
		s.publish(ctx, r, t.At)
	}
	return r, err
}

func (s *publishingStore) publish(ctx context.Context, r flotilla.Run, at time.Time) {
	c := flotilla.NewRunChange(r, at, s.uiURL)
	if err := s.pub.PublishRunChanges(context.WithoutCancel(ctx), []flotilla.RunChange{c}); err != nil {
		s.log.Warn("run status change not published", "run_id", r.ID, "status", r.Status, "err", err)
	}
}
