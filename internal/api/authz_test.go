package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestEveryRouteHasAnAccessRule: a route added without a rule fails here.
func TestEveryRouteHasAnAccessRule(t *testing.T) {
	for _, key := range api.AllRouteKeys() {
		if api.RouteAccess(key) == "" {
			t.Errorf("%s has no access rule in routeAccess (authz.go)", key)
		}
	}
}

// TestAccessByRole: every route that changes an owned thing, as its owner,
// as another member and as an admin. Reads and launches are open to every
// member (the other routes' tests run as one member).
func TestAccessByRole(t *testing.T) {
	h := setup(t, options{noConsume: true})
	alice, bob, admin := h.as("alice", false), h.as("bob", false), h.as("carol", true)
	def := alice.createDefinition("alices", "sleep 60")

	type attempt struct {
		name    string
		do      func(h *harness) response
		allowed int // the status when allowed
	}
	attempts := []attempt{
		{"PATCH /v1/definitions/{ref}", func(h *harness) response {
			return h.do("PATCH", "/v1/definitions/"+def.ID, map[string]any{"env": map[string]string{"BY": h.caller}})
		}, 200},
		{"POST /v1/runs/{id}/stop", func(h *harness) response {
			r := alice.launch(def.ID, "parked")
			return h.do("POST", "/v1/runs/"+r.ID+"/stop", nil)
		}, 202},
		{"DELETE /v1/definitions/{ref}", func(h *harness) response {
			d := alice.createDefinition("doomed-"+h.caller, "true")
			return h.do("DELETE", "/v1/definitions/"+d.ID, nil)
		}, 204},
	}
	for _, a := range attempts {
		if got := a.do(bob); got.status != http.StatusForbidden {
			t.Errorf("%s by another member: %s, want 403", a.name, got)
		} else if p := got.problem(t); !strings.Contains(p.Detail, "only the") || !strings.Contains(p.Detail, "(alice)") ||
			!strings.Contains(p.Detail, "flotilla-admins") {
			t.Errorf("%s: the 403 does not say who may: %q", a.name, p.Detail)
		}
		if got := a.do(alice); got.status != a.allowed {
			t.Errorf("%s by its owner: %s, want %d", a.name, got, a.allowed)
		}
		if got := a.do(admin); got.status != a.allowed {
			t.Errorf("%s by an admin: %s, want %d", a.name, got, a.allowed)
		}
	}
	// Reading and launching are everyone's.
	bob.must(200, "GET", "/v1/definitions/"+def.ID, nil)
	bob.launch(def.ID, "parked")

	// A definition with no recorded owner (made before owners were): admins only.
	legacy := flotillaDefinition(t, h, "legacy")
	if got := bob.do("PATCH", "/v1/definitions/"+legacy, map[string]any{"command": "false"}); got.status != http.StatusForbidden ||
		!strings.Contains(got.problem(t).Detail, "no recorded owner") {
		t.Errorf("a member changed an ownerless definition: %s", got)
	}
	admin.must(200, "PATCH", "/v1/definitions/"+legacy, map[string]any{"command": "false"})
}

// flotillaDefinition stores a definition without an owner, as the stores
// hold those made before owners were recorded.
func flotillaDefinition(t *testing.T, h *harness, alias string) string {
	t.Helper()
	d := flotilla.Definition{ID: "def_legacy" + alias, Alias: alias, Image: "alpine:3", Command: "true", CPU: 256, Memory: 512, Revision: 1}
	d.Normalize()
	created, err := h.store.CreateDefinition(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	return created.ID
}
