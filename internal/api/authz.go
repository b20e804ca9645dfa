package api

import (
	"fmt"
	"net/http"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// The access model, in one place. Everyone signed in may read everything
// and launch any definition. Changing, stopping or deleting a thing is for
// its owner and for the admins: a definition's or schedule's owner is who
// created it, a run's who launched it. Locally there is one user, an admin.
//
// Every route names its rule in routeAccess (authz_test.go checks that each
// route has one); handlers that change an owned thing call authorize.

// access is what a route needs beyond being signed in.
type access string

const (
	// anyone: no sign-in (health, the API document).
	anyone access = "anyone"
	// signedIn: reading and launching.
	signedIn access = "signed in"
	// ownerOrAdmin: changing, stopping or deleting an owned thing.
	ownerOrAdmin access = "owner or admin"
)

// routeAccess is each route's rule, by "METHOD pattern".
var routeAccess = map[string]access{
	"GET /v1/health":                          anyone,
	"GET /v1/openapi.json":                    anyone,
	"POST /v1/definitions":                    signedIn,
	"GET /v1/definitions":                     signedIn,
	"GET /v1/definitions/{ref}":               signedIn,
	"PATCH /v1/definitions/{ref}":             ownerOrAdmin,
	"DELETE /v1/definitions/{ref}":            ownerOrAdmin,
	"GET /v1/definitions/{ref}/revisions/{n}": signedIn,
	"POST /v1/runs":                           signedIn,
	"GET /v1/runs":                            signedIn,
	"GET /v1/runs/{id}":                       signedIn,
	"POST /v1/runs/{id}/stop":                 ownerOrAdmin,
	"POST /v1/runs/{id}/retry-failed":         ownerOrAdmin,
	"GET /v1/runs/{id}/logs":                  signedIn,
	"GET /v1/runs/{id}/events":                signedIn,
	"GET /v1/costs":                           signedIn,
	"GET /v1/clusters":                        signedIn,
	"POST /v1/schedules":                      signedIn,
	"GET /v1/schedules":                       signedIn,
	"GET /v1/schedules/{schedule_id}":         signedIn,
	"PATCH /v1/schedules/{schedule_id}":       ownerOrAdmin,
	"DELETE /v1/schedules/{schedule_id}":      ownerOrAdmin,
	"POST /v1/schedules/{schedule_id}/run":    signedIn,
	"GET /v1/schedules/preview":               signedIn,
}

// authorize lets the caller change a thing of kind ("definition", "run",
// "schedule") owned by owner, or says who may (flotilla.ErrForbidden).
func (s *server) authorize(r *http.Request, caller, kind, owner, verb string) error {
	if s.isAdmin(r) || (owner != "" && caller == owner) {
		return nil
	}
	if owner == "" {
		return fmt.Errorf("this %s has no recorded owner (it was made before owners were recorded): only a member of %s may %s it: %w",
			kind, s.adminGroup(), verb, flotilla.ErrForbidden)
	}
	return fmt.Errorf("only the %s's owner (%s) or a member of %s may %s it: %w", kind, owner, s.adminGroup(), verb, flotilla.ErrForbidden)
}

// ownerName is the caller's display name, if the deployment knows one.
func (s *server) ownerName(r *http.Request) string {
	if s.OwnerName == nil {
		return ""
	}
	return s.OwnerName(r)
}

func (s *server) isAdmin(r *http.Request) bool { return s.IsAdmin != nil && s.IsAdmin(r) }

func (s *server) adminGroup() string {
	if s.AdminGroup != "" {
		return s.AdminGroup
	}
	return "the admin group"
}
