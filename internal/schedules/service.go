package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"
	// Time zones are data; embedding them makes validation and fire times
	// the same on a laptop, in a slim container and in Lambda, whatever
	// zoneinfo the host has.
	_ "time/tzdata"

	"github.com/flotilla-run/flotilla/internal/cron"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
	"github.com/flotilla-run/flotilla/internal/params"
	"github.com/flotilla-run/flotilla/internal/runs"
)

// Trigger is what makes schedules fire: the local Scheduler, or EventBridge
// Scheduler through package awsscheduler. The Service tells it about every
// change after the store has it.
type Trigger interface {
	// Put creates or replaces what fires s (paused when !s.Enabled).
	Put(ctx context.Context, s flotilla.Schedule) error
	// Delete removes what fires the schedule; a missing one is not an error.
	Delete(ctx context.Context, scheduleID string) error
}

// ErrPaused is returned by Fire for a paused schedule; it matches
// flotilla.ErrConflict.
var ErrPaused = fmt.Errorf("schedule is paused: %w", flotilla.ErrConflict)

// ErrOwnerGone is returned by Fire when the schedule's owner may no longer
// launch (Members says so); it matches flotilla.ErrForbidden.
var ErrOwnerGone = fmt.Errorf("the schedule's owner may no longer launch runs: %w", flotilla.ErrForbidden)

// Members tells whether someone may still launch runs: in AWS, whether
// the owner is still an enabled user of the user pool.
type Members interface {
	// MayLaunch reports whether owner may launch now.
	MayLaunch(ctx context.Context, owner string) (bool, error)
}

// Service is the schedule use case.
type Service struct {
	Store flotilla.ScheduleStore
	// Runs launches the runs, and knows the definitions and clusters.
	Runs *runs.Service
	// Trigger, when set, is told of every change.
	Trigger Trigger
	// Members, when set, is asked at every fire whether the schedule's
	// owner may still launch: a schedule fires as its owner only while they
	// may (nil: always, as locally, with its one user).
	Members Members
	// NowFunc is the clock (default time.Now). The local Scheduler's
	// clock should be the same one.
	NowFunc func() time.Time
	Log     *slog.Logger
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

// CreateRequest is the body of POST /v1/schedules.
type CreateRequest struct {
	Name string `json:"name"`
	// Definition is an id or alias; the schedule keeps the id.
	Definition string            `json:"definition"`
	Cluster    string            `json:"cluster,omitempty"`
	Expression string            `json:"expression"`
	Timezone   string            `json:"timezone,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	// Enabled defaults to true.
	Enabled *bool            `json:"enabled,omitempty"`
	CatchUp flotilla.CatchUp `json:"catch_up,omitempty"`
	// Params are the definition's template parameters each fire passes,
	// checked now against its parameters_schema and again at every fire.
	Params flotilla.Params `json:"params,omitempty"`
}

// Create validates and stores a schedule owned by owner, and has it fire.
func (s *Service) Create(ctx context.Context, owner string, req CreateRequest) (flotilla.Schedule, error) {
	now := s.now()
	sch := flotilla.Schedule{
		ID:         ids.New(ids.Schedule, now),
		Name:       req.Name,
		Definition: req.Definition,
		Cluster:    req.Cluster,
		Expression: req.Expression,
		Timezone:   req.Timezone,
		Env:        req.Env,
		Enabled:    req.Enabled == nil || *req.Enabled,
		CatchUp:    req.CatchUp,
		Owner:      owner,
		Version:    1,
		CreatedAt:  now,
		UpdatedAt:  now,
		Params:     req.Params,
	}
	if err := s.check(ctx, &sch); err != nil {
		return flotilla.Schedule{}, err
	}
	stored, err := s.Store.CreateSchedule(ctx, sch)
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("create schedule %q: %w", sch.Name, err)
	}
	if s.Trigger != nil {
		if err := s.Trigger.Put(ctx, stored); err != nil {
			// Without its trigger the schedule would never fire: undo.
			if derr := s.Store.DeleteSchedule(context.WithoutCancel(ctx), stored.ID); derr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", derr))
			}
			return flotilla.Schedule{}, fmt.Errorf("create schedule %s: trigger: %w", stored.ID, err)
		}
	}
	return s.withNext(stored), nil
}

// Get returns a schedule with its next fire times.
func (s *Service) Get(ctx context.Context, id string) (flotilla.Schedule, error) {
	sch, err := s.Store.GetSchedule(ctx, id)
	if err != nil {
		return flotilla.Schedule{}, err
	}
	return s.withNext(sch), nil
}

// List returns a page of schedules with their next fire times.
func (s *Service) List(ctx context.Context, f flotilla.ScheduleFilter) (flotilla.Page[flotilla.Schedule], error) {
	page, err := s.Store.ListSchedules(ctx, f)
	if err != nil {
		return page, err
	}
	for i := range page.Items {
		page.Items[i] = s.withNext(page.Items[i])
	}
	return page, nil
}

// Update applies a patch (pause and resume are {"enabled": false|true}).
// ErrConflict: someone else changed the schedule meanwhile.
func (s *Service) Update(ctx context.Context, id string, p flotilla.SchedulePatch) (flotilla.Schedule, error) {
	cur, err := s.Store.GetSchedule(ctx, id)
	if err != nil {
		return flotilla.Schedule{}, err
	}
	next := p.Apply(cur)
	next.Version = cur.Version + 1
	next.UpdatedAt = s.now()
	if err := s.check(ctx, &next); err != nil {
		return flotilla.Schedule{}, err
	}
	stored, err := s.Store.UpdateSchedule(ctx, next)
	if err != nil {
		return flotilla.Schedule{}, err
	}
	if s.Trigger != nil {
		if err := s.Trigger.Put(ctx, stored); err != nil {
			return flotilla.Schedule{}, fmt.Errorf("update schedule %s: stored, but its trigger was not updated (send the update again): %w", id, err)
		}
	}
	return s.withNext(stored), nil
}

// Delete removes a schedule and its trigger; the runs it made stay.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.Store.DeleteSchedule(ctx, id); err != nil {
		return err
	}
	if s.Trigger != nil {
		if err := s.Trigger.Delete(ctx, id); err != nil {
			return fmt.Errorf("delete schedule %s: its trigger: %w", id, err)
		}
	}
	return nil
}

// check normalizes sch and validates every field, naming each bad one: the
// expression's syntax (with what is wrong, from package cron), the time
// zone, the definition and the cluster.
func (s *Service) check(ctx context.Context, sch *flotilla.Schedule) error {
	if sch.Cluster == "" {
		sch.Cluster = s.Runs.DefaultCluster
	}
	sch.Normalize()
	v := &flotilla.ValidationError{}
	var fields *flotilla.ValidationError
	if errors.As(sch.Validate(), &fields) {
		v.Fields = append(v.Fields, fields.Fields...)
	}
	if sch.Expression != "" && !hasField(v, "expression") {
		expr, err := cron.Parse(sch.Expression)
		if err != nil {
			v.Add("expression", "%s", err.Error())
		} else {
			sch.Expression = expr.String()
			if loc, lerr := sch.Location(); lerr == nil {
				if _, ok := expression(*sch, expr).Next(s.now(), loc); !ok {
					v.Add("expression", "%s never fires after now", sch.Expression)
				}
			}
		}
	}
	if _, err := s.Runs.Cluster(sch.Cluster); err != nil {
		v.Add("cluster", "no cluster named %q (clusters: %v)", sch.Cluster, s.Runs.ClusterNames())
	}
	if sch.Definition != "" {
		d, err := s.Runs.Store.GetDefinition(ctx, sch.Definition)
		switch {
		case errors.Is(err, flotilla.ErrNotFound):
			v.Add("definition", "no definition with id or alias %q", sch.Definition)
		case err != nil:
			return fmt.Errorf("check schedule %s: %w", sch.ID, err)
		default:
			// The id, not the alias: an alias can move to another
			// definition, and lists filter on the id.
			sch.Definition = d.ID
			checkParams(v, d, sch.Params)
		}
	}
	return v.Err()
}

// expression is sch's parsed expression with rate() anchored at its
// creation (to the minute), as EventBridge Scheduler anchors a rate
// schedule at its creation.
func expression(sch flotilla.Schedule, e cron.Expression) cron.Expression {
	return e.WithStart(sch.CreatedAt.UTC().Truncate(time.Minute))
}

// fireTimes parses sch's expression and zone. Stored schedules were checked,
// so an error here means the store holds something this code cannot read.
func fireTimes(sch flotilla.Schedule) (cron.Expression, *time.Location, error) {
	e, err := cron.Parse(sch.Expression)
	if err != nil {
		return cron.Expression{}, nil, fmt.Errorf("schedule %s: %w", sch.ID, err)
	}
	loc, err := sch.Location()
	if err != nil {
		return cron.Expression{}, nil, fmt.Errorf("schedule %s: %w", sch.ID, err)
	}
	return expression(sch, e), loc, nil
}

// withNext fills NextFireTimes: the next few of an enabled schedule, in UTC.
func (s *Service) withNext(sch flotilla.Schedule) flotilla.Schedule {
	sch.NextFireTimes = []time.Time{}
	if !sch.Enabled {
		return sch
	}
	e, loc, err := fireTimes(sch)
	if err != nil {
		return sch
	}
	for _, t := range e.NextN(s.now(), loc, flotilla.NextFireTimesShown) {
		sch.NextFireTimes = append(sch.NextFireTimes, t.UTC())
	}
	return sch
}

// FireKey is the idempotency key of a schedule's fire at a scheduled time.
func FireKey(scheduleID string, at time.Time) string {
	return scheduleID + "#" + at.UTC().Format(time.RFC3339)
}

// Fire launches the run of a schedule's fire at the scheduled time at, owned
// by the schedule's creator. It is idempotent: a second Fire of the same
// time returns the first one's run with created=false. ErrNotFound: no such
// schedule; ErrPaused: it is paused.
func (s *Service) Fire(ctx context.Context, scheduleID string, at time.Time) (run flotilla.Run, created bool, err error) {
	sch, err := s.Store.GetSchedule(ctx, scheduleID)
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("fire schedule %s: %w", scheduleID, err)
	}
	if !sch.Enabled {
		return flotilla.Run{}, false, fmt.Errorf("fire schedule %s: %w", scheduleID, ErrPaused)
	}
	if s.Members != nil {
		ok, err := s.Members.MayLaunch(ctx, sch.Owner)
		if err != nil {
			return flotilla.Run{}, false, fmt.Errorf("fire schedule %s: may %s launch: %w", scheduleID, sch.Owner, err)
		}
		if !ok {
			return flotilla.Run{}, false, fmt.Errorf("fire schedule %s as %s: %w", scheduleID, sch.Owner, ErrOwnerGone)
		}
	}
	run, created, err = s.Runs.Launch(ctx, sch.Owner, runs.LaunchRequest{
		Definition:     sch.Definition,
		Cluster:        sch.Cluster,
		Env:            maps.Clone(sch.Env),
		Params:         maps.Clone(sch.Params),
		IdempotencyKey: FireKey(sch.ID, at),
		ScheduleID:     sch.ID,
	})
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("fire schedule %s at %s: %w", sch.ID, at.UTC().Format(time.RFC3339), err)
	}
	// The run exists; the record only feeds catch-up after a restart, and
	// a later fire (or another scheduler) may have recorded already.
	if err := s.Store.RecordFire(ctx, sch.ID, at); err != nil && !errors.Is(err, flotilla.ErrConflict) && !errors.Is(err, flotilla.ErrNotFound) {
		s.log().Warn("recording a schedule's fire failed", "schedule_id", sch.ID, "run_id", run.ID, "err", err)
	}
	if created {
		s.log().Info("schedule fired", "schedule_id", sch.ID, "run_id", run.ID, "definition_id", run.DefinitionID,
			"cluster", run.Cluster, "scheduled_time", at.UTC().Format(time.RFC3339))
	}
	return run, created, nil
}

// checkParams adds a field error for each of params the definition's
// parameters_schema refuses, or that its command cannot be rendered with:
// the same checks a launch makes, so a schedule is refused when it is
// written rather than failing at 3 a.m. A definition changed later is
// checked again by the launch at each fire.
func checkParams(v *flotilla.ValidationError, d flotilla.Definition, p flotilla.Params) {
	resolved, err := params.Resolve(d.ParametersSchema, p)
	if err == nil {
		_, err = params.Render("command", d.Command, d.ParametersSchema, resolved)
	}
	var fields *flotilla.ValidationError
	if errors.As(err, &fields) {
		v.Fields = append(v.Fields, fields.Fields...)
	} else if err != nil {
		v.Add("params", "%v", err)
	}
}

func hasField(v *flotilla.ValidationError, field string) bool {
	for _, f := range v.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// RunNowRequest is the body of POST /v1/schedules/{id}/run (it may be empty).
type RunNowRequest struct {
	// IdempotencyKey makes a repeated click or a retried request one run.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// RunNow launches a schedule's definition at once with the schedule's
// cluster and env, as caller (who clicked, not the schedule's owner: the run
// is theirs to stop), carrying the schedule's id so it is listed among the
// schedule's runs. A paused schedule runs too: trying it before enabling it
// is what the button is for. It does not move last_fire_time, which records
// scheduled fires only. ErrNotFound: no such schedule.
func (s *Service) RunNow(ctx context.Context, caller, callerName, scheduleID string, req RunNowRequest) (flotilla.Run, bool, error) {
	sch, err := s.Store.GetSchedule(ctx, scheduleID)
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("run schedule %s now: %w", scheduleID, err)
	}
	run, created, err := s.Runs.Launch(ctx, caller, runs.LaunchRequest{
		Definition:     sch.Definition,
		Cluster:        sch.Cluster,
		Env:            maps.Clone(sch.Env),
		IdempotencyKey: req.IdempotencyKey,
		ScheduleID:     sch.ID,
		OwnerName:      callerName,
	})
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("run schedule %s now: %w", sch.ID, err)
	}
	return run, created, nil
}

// Preview returns the next n fire times (UTC) of an expression read in a
// time zone, as a schedule created now would fire, without storing
// anything; a validation error names "expression" or "timezone".
func (s *Service) Preview(expr, timezone string, n int) ([]time.Time, error) {
	now := s.now()
	sch := flotilla.Schedule{Expression: expr, Timezone: timezone, CreatedAt: now}
	sch.Normalize()
	v := &flotilla.ValidationError{}
	loc, lerr := sch.Location()
	var fields *flotilla.ValidationError
	if errors.As(lerr, &fields) {
		v.Fields = append(v.Fields, fields.Fields...)
	}
	var parsed cron.Expression
	switch {
	case sch.Expression == "":
		v.Add("expression", "is required: cron(…), rate(…) or at(…)")
	case len(sch.Expression) > flotilla.MaxScheduleExpressionBytes:
		v.Add("expression", "must be at most %d bytes", flotilla.MaxScheduleExpressionBytes)
	default:
		e, err := cron.Parse(sch.Expression)
		if err != nil {
			v.Add("expression", "%s", err.Error())
		}
		parsed = e
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	times := []time.Time{}
	for _, t := range expression(sch, parsed).NextN(now, loc, n) {
		times = append(times, t.UTC())
	}
	return times, nil
}
