package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// handleEvent applies one EventBridge event to its run. Events about tasks
// Flotilla did not start succeed without effect. A malformed event is
// logged and dropped: retrying cannot mend it, and the sweep reconciles the
// run from DescribeTasks. Any other error is returned, so the event is
// delivered again (Reconcile's writes are conditional, so a repeat is
// harmless).
func handleEvent(ctx context.Context, log *slog.Logger, raw json.RawMessage,
	decode func([]byte) (flotilla.TaskEvent, error), reconcile func(context.Context, flotilla.TaskEvent) error) error {
	ev, err := decode(raw)
	switch {
	case errors.Is(err, awsevents.ErrIgnored):
		log.DebugContext(ctx, "event ignored", "reason", err.Error())
		return nil
	case err != nil:
		log.ErrorContext(ctx, "malformed task state change dropped; the sweep will reconcile its run", "err", err)
		return nil
	}
	if err := reconcile(ctx, ev); err != nil {
		return fmt.Errorf("reconcile run %s task %s: %w", ev.RunID, ev.TaskID, err)
	}
	return nil
}
