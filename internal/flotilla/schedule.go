package flotilla

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CatchUp says what a schedule does about fire times that passed while
// nothing could fire them (the local server was down or asleep).
type CatchUp string

// The catch-up policies.
const (
	// CatchUpNone skips every missed fire time (the default).
	CatchUpNone CatchUp = "none"
	// CatchUpLatest makes one run for the most recent missed fire time.
	CatchUpLatest CatchUp = "latest"
)

// Limits on schedules.
const (
	MaxScheduleNameBytes       = 128
	MaxScheduleExpressionBytes = 256
	// NextFireTimesShown is how many upcoming fire times a schedule shows.
	NextFireTimesShown = 5
)

// Schedule launches a definition on an EventBridge Scheduler expression. In
// AWS each is an EventBridge Scheduler schedule; locally the in-process
// scheduler interprets the same expression.
type Schedule struct {
	ID         string `json:"schedule_id"`
	Name       string `json:"name"`
	Definition string `json:"definition"` // a definition id or alias
	Cluster    string `json:"cluster"`
	// Expression is cron(…), rate(…) or at(…), in canonical form.
	Expression string `json:"expression"`
	// Timezone is the IANA zone cron() and at() wall-clock times are read in.
	Timezone string            `json:"timezone"`
	Env      map[string]string `json:"env"`
	Enabled  bool              `json:"enabled"`
	CatchUp  CatchUp           `json:"catch_up"`
	// Owner is the creator; the runs the schedule fires belong to them.
	Owner string `json:"owner"`
	// Version starts at 1 and grows by one on every update; updates are
	// conditional on it.
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastFireTime is the latest scheduled time that fired. Only
	// ScheduleStore.RecordFire moves it, and only forward.
	LastFireTime *time.Time `json:"last_fire_time,omitempty"`
	// NextFireTimes is computed on read, never stored: the next few fire
	// times of an enabled schedule, empty when paused.
	NextFireTimes []time.Time `json:"next_fire_times"`

	// Params are the template parameters each fire launches with.
	Params Params `json:"params,omitempty"`
}

// SchedulePatch is a partial update: nil fields keep their value.
type SchedulePatch struct {
	Name       *string            `json:"name,omitempty"`
	Definition *string            `json:"definition,omitempty"`
	Cluster    *string            `json:"cluster,omitempty"`
	Expression *string            `json:"expression,omitempty"`
	Timezone   *string            `json:"timezone,omitempty"`
	Env        *map[string]string `json:"env,omitempty"`
	Enabled    *bool              `json:"enabled,omitempty"`
	CatchUp    *CatchUp           `json:"catch_up,omitempty"`

	// Params replaces the params; {} removes them.
	Params *Params `json:"params,omitempty"`
}

// Apply returns s with the patch applied (version and times untouched).
func (p SchedulePatch) Apply(s Schedule) Schedule {
	patch(&s.Name, p.Name)
	patch(&s.Definition, p.Definition)
	patch(&s.Cluster, p.Cluster)
	patch(&s.Expression, p.Expression)
	patch(&s.Timezone, p.Timezone)
	patch(&s.Env, p.Env)
	patch(&s.Enabled, p.Enabled)
	patch(&s.CatchUp, p.CatchUp)
	patch(&s.Params, p.Params)
	if len(s.Params) == 0 {
		s.Params = nil
	}
	return s
}

// Normalize fills defaults: UTC, catch_up none, an empty env.
func (s *Schedule) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.Expression = strings.TrimSpace(s.Expression)
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if s.CatchUp == "" {
		s.CatchUp = CatchUpNone
	}
	if s.Env == nil {
		s.Env = map[string]string{}
	}
}

// Location returns the schedule's time zone; ErrInvalid naming the field
// when it is not an IANA zone.
func (s Schedule) Location() (*time.Location, error) {
	loc, problem := loadZone(s.Timezone)
	if problem != "" {
		return nil, Invalid("timezone", "%s", problem)
	}
	return loc, nil
}

func loadZone(name string) (*time.Location, string) {
	// "Local" means the server's zone, which differs between a laptop and
	// AWS; only IANA names are portable.
	if name == "" || name == "Local" {
		return nil, "must be an IANA time zone such as UTC or Europe/Paris, not " + strconv.Quote(name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, "unknown IANA time zone " + strconv.Quote(name) + " (for example UTC, America/New_York, Europe/Paris)"
	}
	return loc, ""
}

// Validate checks every field it can without a parser of expressions (the
// schedules use case checks the expression's syntax) and names each bad one.
func (s Schedule) Validate() error {
	v := &ValidationError{}
	switch {
	case s.Name == "":
		v.Add("name", "is required")
	case len(s.Name) > MaxScheduleNameBytes:
		v.Add("name", "must be at most %d bytes", MaxScheduleNameBytes)
	case !utf8.ValidString(s.Name) || strings.ContainsFunc(s.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		v.Add("name", "must be printable UTF-8 text")
	}
	if strings.TrimSpace(s.Definition) == "" {
		v.Add("definition", "is required (a definition id or alias)")
	}
	switch {
	case s.Expression == "":
		v.Add("expression", "is required, e.g. cron(0 3 * * ? *) or rate(15 minutes)")
	case len(s.Expression) > MaxScheduleExpressionBytes:
		v.Add("expression", "must be at most %d bytes", MaxScheduleExpressionBytes)
	}
	if _, problem := loadZone(s.Timezone); problem != "" {
		v.Add("timezone", "%s", problem)
	}
	validateEnv(v, "env", s.Env)
	if s.CatchUp != CatchUpNone && s.CatchUp != CatchUpLatest {
		v.Add("catch_up", "must be %q or %q, not %q", CatchUpNone, CatchUpLatest, s.CatchUp)
	}
	return v.Err()
}

// ScheduleFilter selects schedules, in id order. Empty fields match all.
type ScheduleFilter struct {
	Definition string
	Owner      string
	// Enabled, when set, keeps only enabled (true) or paused (false) ones.
	Enabled   *bool
	Limit     int
	NextToken string
}

// ScheduleStore keeps schedules. Every method returns ErrNotFound for a
// missing schedule and ErrConflict for a failed condition. Stores never
// keep NextFireTimes.
type ScheduleStore interface {
	// CreateSchedule stores s (Version 1). ErrConflict: the id exists.
	CreateSchedule(ctx context.Context, s Schedule) (Schedule, error)
	GetSchedule(ctx context.Context, id string) (Schedule, error)
	ListSchedules(ctx context.Context, f ScheduleFilter) (Page[Schedule], error)
	// UpdateSchedule replaces s only when the stored version is
	// s.Version-1; LastFireTime is kept as stored. ErrConflict: stale.
	UpdateSchedule(ctx context.Context, s Schedule) (Schedule, error)
	DeleteSchedule(ctx context.Context, id string) error
	// RecordFire sets LastFireTime to at only when it is unset or earlier,
	// so two schedulers cannot both record the same fire time.
	// ErrConflict: at is not after the recorded time.
	RecordFire(ctx context.Context, id string, at time.Time) error
}
