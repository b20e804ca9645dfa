package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/schedules"
)

// scheduleRoutes are served when Deps.Schedules is set (in AWS, only with
// EventBridge Scheduler configured).
var scheduleRoutes = []route{
	{"POST", "/v1/schedules", (*server).handleCreateSchedule},
	{"GET", "/v1/schedules", (*server).handleListSchedules},
	{"GET", "/v1/schedules/{schedule_id}", (*server).handleGetSchedule},
	{"PATCH", "/v1/schedules/{schedule_id}", (*server).handleUpdateSchedule},
	{"DELETE", "/v1/schedules/{schedule_id}", (*server).handleDeleteSchedule},
	{"POST", "/v1/schedules/{schedule_id}/run", (*server).handleRunScheduleNow},
	{"GET", "/v1/schedules/preview", (*server).handlePreviewSchedule},
}

func (s *server) handleCreateSchedule() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, owner string) {
		req, err := decode[schedules.CreateRequest](w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		sch, err := s.Schedules.Create(r.Context(), owner, req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/schedules/"+sch.ID)
		encode(w, http.StatusCreated, sch)
	})
}

func (s *server) handleListSchedules() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, _ string) {
		q := r.URL.Query()
		v := &flotilla.ValidationError{}
		f := flotilla.ScheduleFilter{Owner: q.Get("owner"), NextToken: q.Get("next_token")}
		if ref := q.Get("definition"); ref != "" {
			d, err := s.Store.GetDefinition(r.Context(), ref)
			switch {
			case errors.Is(err, flotilla.ErrNotFound):
				v.Add("definition", "no definition with id or alias %q", ref)
			case err != nil:
				s.fail(w, r, err)
				return
			}
			f.Definition = d.ID
		}
		if e := q.Get("enabled"); e != "" {
			b, err := strconv.ParseBool(e)
			if err != nil {
				v.Add("enabled", "must be true or false")
			}
			f.Enabled = &b
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 500 {
				v.Add("limit", "must be a number from 1 to 500")
			}
			f.Limit = n
		}
		if err := v.Err(); err != nil {
			s.fail(w, r, err)
			return
		}
		page, err := s.Schedules.List(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, page)
	})
}

func (s *server) handleGetSchedule() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, _ string) {
		sch, err := s.Schedules.Get(r.Context(), r.PathValue("schedule_id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, sch)
	})
}

// handleUpdateSchedule: the owner or an admin. An admin's change never
// changes whom the schedule fires as: its owner stays.
func (s *server) handleUpdateSchedule() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		p, err := decode[flotilla.SchedulePatch](w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.mayChangeSchedule(r, caller, "change"); err != nil {
			s.fail(w, r, err)
			return
		}
		sch, err := s.Schedules.Update(r.Context(), r.PathValue("schedule_id"), p)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, sch)
	})
}

func (s *server) handleDeleteSchedule() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		if err := s.mayChangeSchedule(r, caller, "delete"); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.Schedules.Delete(r.Context(), r.PathValue("schedule_id")); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleRunScheduleNow launches the schedule's definition now, as the
// caller: anyone signed in may launch any definition, so anyone may run a
// schedule now; the run is theirs.
func (s *server) handleRunScheduleNow() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, caller string) {
		var req schedules.RunNowRequest
		if r.ContentLength != 0 {
			var err error
			if req, err = decode[schedules.RunNowRequest](w, r); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		run, created, err := s.Schedules.RunNow(r.Context(), caller, s.ownerName(r), r.PathValue("schedule_id"), req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		accepted(w, run.ID, created, run)
	})
}

// schedulePreview is GET /v1/schedules/preview's answer.
type schedulePreview struct {
	Expression    string      `json:"expression"`
	Timezone      string      `json:"timezone"`
	NextFireTimes []time.Time `json:"next_fire_times"`
}

// handlePreviewSchedule answers the next fire times of an expression in a
// zone, so a form can show them while the user types; nothing is stored.
func (s *server) handlePreviewSchedule() http.Handler {
	return s.withOwner(func(w http.ResponseWriter, r *http.Request, _ string) {
		q := r.URL.Query()
		tz := q.Get("timezone")
		if tz == "" {
			tz = "UTC"
		}
		times, err := s.Schedules.Preview(q.Get("expression"), tz, flotilla.NextFireTimesShown)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		encode(w, http.StatusOK, schedulePreview{Expression: q.Get("expression"), Timezone: tz, NextFireTimes: times})
	})
}

func (s *server) mayChangeSchedule(r *http.Request, caller, verb string) error {
	sch, err := s.Schedules.Get(r.Context(), r.PathValue("schedule_id"))
	if err != nil {
		return err
	}
	return s.authorize(r, caller, "schedule", sch.Owner, verb)
}
