package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/runs"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

// Deps are what the API needs.
type Deps struct {
	Runs  *runs.Service
	Store flotilla.Store
	Logs  flotilla.LogReader
	// Owner names the caller: the JWT's sub in AWS (one stable identity
	// whatever the token), the local user in local mode. An error answers 401.
	Owner func(r *http.Request) (string, error)
	// OwnerName, when set, is the caller's display name (the verified
	// e-mail in AWS), recorded beside the owner on what they make.
	OwnerName func(r *http.Request) string
	// IsAdmin reports whether the caller is an admin, who may change, stop
	// and delete what others own (authz.go). Nil: nobody is.
	IsAdmin func(r *http.Request) bool
	// AdminGroup names the admins in refusals (the Cognito group in AWS).
	AdminGroup string
	// CheckDefinition, when set, adds the engine's checks to a definition's
	// validation on create and update (deployed: secret references within
	// what the task execution role may read). Its ValidationError is a 400.
	CheckDefinition func(flotilla.Definition) error
	// Schedules, when set, serves /v1/schedules.
	Schedules ScheduleService
	// UI, when set, serves every path outside /v1 (the web app).
	UI  http.Handler
	Log *slog.Logger
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
}

// ScheduleService is the schedules use case (*schedules.Service) as the
// API calls it.
type ScheduleService interface {
	Create(ctx context.Context, owner string, req schedules.CreateRequest) (flotilla.Schedule, error)
	List(ctx context.Context, f flotilla.ScheduleFilter) (flotilla.Page[flotilla.Schedule], error)
	Get(ctx context.Context, id string) (flotilla.Schedule, error)
	Update(ctx context.Context, id string, p flotilla.SchedulePatch) (flotilla.Schedule, error)
	Delete(ctx context.Context, id string) error
	// UsingDefinition lists the schedules that launch d (at most limit).
	UsingDefinition(ctx context.Context, d flotilla.Definition, limit int) ([]flotilla.Schedule, error)
	// RunNow launches a schedule's definition at once, as caller.
	RunNow(ctx context.Context, caller, callerName, id string, req schedules.RunNowRequest) (flotilla.Run, bool, error)
	// Preview returns the next n fire times of an expression in a zone.
	Preview(expr, timezone string, n int) ([]time.Time, error)
}

var _ ScheduleService = (*schedules.Service)(nil)

type server struct {
	Deps
}

// NewServer returns the API handler.
func NewServer(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.NowFunc == nil {
		d.NowFunc = time.Now
	}
	if d.Owner == nil {
		d.Owner = func(*http.Request) (string, error) { return "", errUnauthorized }
	}
	s := &server{Deps: d}
	mux := http.NewServeMux()
	s.routes(mux)
	// guard.go: headers on every answer, JSON-only bodies on every route.
	return securityHeaders(s.recoverPanics(requireJSON(checkQuery(mux))))
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.Log, err)
}

// recoverPanics turns a panic into a 500 problem, so one bad request can
// never take the server down.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.Log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, r, s.Log, context.Canceled)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withOwner resolves the caller or answers 401.
func (s *server) withOwner(h func(w http.ResponseWriter, r *http.Request, owner string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner, err := s.Owner(r)
		if err != nil || owner == "" {
			s.fail(w, r, errUnauthorized)
			return
		}
		h(w, r, owner)
	})
}
