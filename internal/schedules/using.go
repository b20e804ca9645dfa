package schedules

import (
	"context"
	"fmt"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// UsingDefinition lists the schedules that launch d (naming it by id or by
// alias), at most limit of them: deleting d would leave them firing into
// errors, so the API refuses that and names them.
func (s *Service) UsingDefinition(ctx context.Context, d flotilla.Definition, limit int) ([]flotilla.Schedule, error) {
	var out []flotilla.Schedule
	for _, ref := range []string{d.ID, d.Alias} {
		f := flotilla.ScheduleFilter{Definition: ref, Limit: limit}
		page, err := s.Store.ListSchedules(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("schedules using definition %s: %w", d.ID, err)
		}
		out = append(out, page.Items...)
		if len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}
