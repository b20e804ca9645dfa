package schedules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// MaxBodyBytes bounds request bodies, as the rest of the API does.
const MaxBodyBytes = 1 << 20

// Routes mounts /v1/schedules on mux (it implements api.ScheduleService).
// owner names the caller; fail answers an error with the API's problem
// document. The two answers fail cannot express (401 and 413, whose errors
// the api package keeps to itself) are written here in the same form.
func (s *Service) Routes(mux *http.ServeMux, owner func(*http.Request) (string, error), fail func(http.ResponseWriter, *http.Request, error)) {
	h := handlers{svc: s, owner: owner, fail: fail}
	mux.Handle("POST /v1/schedules", h.withOwner(h.create))
	mux.Handle("GET /v1/schedules", h.withOwner(h.list))
	mux.Handle("GET /v1/schedules/{schedule_id}", h.withOwner(h.get))
	mux.Handle("PATCH /v1/schedules/{schedule_id}", h.withOwner(h.update))
	mux.Handle("DELETE /v1/schedules/{schedule_id}", h.withOwner(h.delete))
	mux.Handle("/v1/schedules", notAllowed("GET, POST"))
	mux.Handle("/v1/schedules/{schedule_id}", notAllowed("GET, PATCH, DELETE"))
}

type handlers struct {
	svc   *Service
	owner func(*http.Request) (string, error)
	fail  func(http.ResponseWriter, *http.Request, error)
}

func (h handlers) withOwner(next func(w http.ResponseWriter, r *http.Request, owner string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner, err := h.owner(r)
		if err != nil || owner == "" {
			problem(w, http.StatusUnauthorized, "Unauthorized", "sign in to use the API")
			return
		}
		next(w, r, owner)
	})
}

func (h handlers) create(w http.ResponseWriter, r *http.Request, owner string) {
	var req CreateRequest
	if !h.decode(w, r, &req) {
		return
	}
	sch, err := h.svc.Create(r.Context(), owner, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/schedules/"+sch.ID)
	encode(w, http.StatusCreated, sch)
}

func (h handlers) list(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	v := &flotilla.ValidationError{}
	f := flotilla.ScheduleFilter{Owner: q.Get("owner"), NextToken: q.Get("next_token")}
	if ref := q.Get("definition"); ref != "" {
		d, err := h.svc.Runs.Store.GetDefinition(r.Context(), ref)
		switch {
		case errors.Is(err, flotilla.ErrNotFound):
			v.Add("definition", "no definition with id or alias %q", ref)
		case err != nil:
			h.fail(w, r, err)
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
		h.fail(w, r, err)
		return
	}
	page, err := h.svc.List(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	encode(w, http.StatusOK, page)
}

func (h handlers) get(w http.ResponseWriter, r *http.Request, _ string) {
	sch, err := h.svc.Get(r.Context(), r.PathValue("schedule_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	encode(w, http.StatusOK, sch)
}

func (h handlers) update(w http.ResponseWriter, r *http.Request, _ string) {
	var p flotilla.SchedulePatch
	if !h.decode(w, r, &p) {
		return
	}
	sch, err := h.svc.Update(r.Context(), r.PathValue("schedule_id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	encode(w, http.StatusOK, sch)
}

func (h handlers) delete(w http.ResponseWriter, r *http.Request, _ string) {
	if err := h.svc.Delete(r.Context(), r.PathValue("schedule_id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decode reads exactly one JSON object into v, rejecting unknown fields and
// bodies over MaxBodyBytes; on failure it has answered and returns false.
func (h handlers) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if extra := dec.Decode(new(json.RawMessage)); !errors.Is(extra, io.EOF) {
			err = extra
			if err == nil {
				err = errTrailing
			}
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		problem(w, http.StatusRequestEntityTooLarge, "Request body too large", fmt.Sprintf("the body is over %d bytes", MaxBodyBytes),
			flotilla.FieldError{Field: "body", Message: fmt.Sprintf("must be at most %d bytes", MaxBodyBytes)})
		return false
	}
	h.fail(w, r, bodyError(err))
	return false
}

var errTrailing = errors.New("trailing data")

// bodyError names the field a JSON decoding error is about.
func bodyError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errTrailing):
		return flotilla.Invalid("body", "must hold one JSON object and nothing after it")
	case errors.Is(err, io.EOF):
		return flotilla.Invalid("body", "is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return flotilla.Invalid("body", "is not valid JSON: it ends too early")
	case errors.As(err, &syn):
		return flotilla.Invalid("body", "is not valid JSON: %s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return flotilla.Invalid(field, "must be a JSON %s, not %s", typ.Type.Kind(), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return flotilla.Invalid(name, "is not a known field (read-only fields cannot be set)")
	}
	return flotilla.Invalid("body", "could not be read: %v", err)
}

func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// problem writes an RFC 9457 problem document, shaped as the API's.
func problem(w http.ResponseWriter, status int, title, detail string, fields ...flotilla.FieldError) {
	doc := map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail}
	if len(fields) > 0 {
		doc["errors"] = fields
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(doc)
}

func notAllowed(methods string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", methods)
		problem(w, http.StatusMethodNotAllowed, "Method not allowed", fmt.Sprintf("%s %s allows %s", r.Method, r.URL.Path, methods))
	})
}
