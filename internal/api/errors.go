package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail,omitempty"`
	Errors []flotilla.FieldError `json:"errors,omitempty"`
}

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = []struct {
	err    error
	status int
	title  string
}{
	{flotilla.ErrInvalid, http.StatusBadRequest, "Invalid input"},
	{flotilla.ErrNotFound, http.StatusNotFound, "Not found"},
	{flotilla.ErrConflict, http.StatusConflict, "Conflict"},
	{flotilla.ErrThrottled, http.StatusTooManyRequests, "Too many requests"},
	{flotilla.ErrNoCapacity, http.StatusServiceUnavailable, "No capacity"},
	{errUnauthorized, http.StatusUnauthorized, "Unauthorized"},
	{flotilla.ErrForbidden, http.StatusForbidden, "Forbidden"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "Request body too large"},
}

var (
	errUnauthorized = errors.New("unauthorized")
	errTooLarge     = errors.New("request body too large")
)

// fieldError blames one field for an error that is not a validation error
// (a taken alias is a conflict, an oversized body is too large), so its
// problem document still names the field.
type fieldError struct {
	err error
	flotilla.FieldError
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// writeError answers with the problem document for err. Errors that map to
// no code are 500s: logged here, with their detail kept from the client.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := Problem{Type: "about:blank", Status: http.StatusInternalServerError, Title: "Internal error",
		Detail: "something went wrong on our side; it has been logged"}
	for _, m := range statusOf {
		if errors.Is(err, m.err) {
			p.Status, p.Title, p.Detail = m.status, m.title, err.Error()
			break
		}
	}
	var v *flotilla.ValidationError
	var fe *fieldError
	var ce *flotilla.ConflictError
	switch {
	case errors.As(err, &v):
		p.Errors = v.Fields
		p.Detail = v.Error()
	case errors.As(err, &ce):
		p.Errors = []flotilla.FieldError{ce.FieldError}
		p.Detail = ce.Message
	case errors.As(err, &fe) && p.Status != http.StatusInternalServerError:
		p.Errors = []flotilla.FieldError{fe.FieldError}
	}
	if p.Status == http.StatusInternalServerError {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(1))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: title, Status: status, Detail: detail})
}
