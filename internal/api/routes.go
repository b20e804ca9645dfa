package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// route is one documented route; the OpenAPI test checks every one is in
// openapi.json.
type route struct {
	method, pattern string
	handler         func(s *server) http.Handler
}

// Routes is the API v1, all of it.
var routes = []route{
	{"GET", "/v1/health", (*server).handleHealth},
	{"GET", "/v1/openapi.json", (*server).handleOpenAPI},
	{"POST", "/v1/definitions", (*server).handleCreateDefinition},
	{"GET", "/v1/definitions", (*server).handleListDefinitions},
	{"GET", "/v1/definitions/{ref}", (*server).handleGetDefinition},
	{"PATCH", "/v1/definitions/{ref}", (*server).handleUpdateDefinition},
	{"DELETE", "/v1/definitions/{ref}", (*server).handleDeleteDefinition},
	{"GET", "/v1/definitions/{ref}/revisions/{n}", (*server).handleGetRevision},
	{"POST", "/v1/runs", (*server).handleLaunch},
	{"GET", "/v1/runs", (*server).handleListRuns},
	{"GET", "/v1/runs/{id}", (*server).handleGetRun},
	{"POST", "/v1/runs/{id}/stop", (*server).handleStopRun},
	{"POST", "/v1/runs/{id}/retry-failed", (*server).handleRetryFailed},
	{"GET", "/v1/runs/{id}/logs", (*server).handleLogs},
	{"GET", "/v1/runs/{id}/events", (*server).handleRunEvents},
	{"GET", "/v1/costs", (*server).handleCosts},
	{"GET", "/v1/clusters", (*server).handleClusters},
}

func (s *server) routes(mux *http.ServeMux) {
	served := routes
	if s.Schedules != nil {
		served = append(slices.Clone(routes), scheduleRoutes...)
	}
	for _, rt := range served {
		mux.Handle(rt.method+" "+rt.pattern, rt.handler(s))
	}
	// Unknown /v1 paths and wrong methods get problem documents too.
	paths := http.NewServeMux()
	allowed := map[string][]string{}
	for _, rt := range served {
		if _, ok := allowed[rt.pattern]; !ok {
			paths.Handle(rt.pattern, http.NotFoundHandler())
		}
		allowed[rt.pattern] = append(allowed[rt.pattern], rt.method)
	}
	mux.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" && !strings.HasSuffix(pattern, "/v1/") {
			methods := slices.Clone(allowed[pattern])
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", fmt.Sprintf("%s %s allows %s", r.Method, r.URL.Path, strings.Join(methods, ", ")))
			return
		}
		s.fail(w, r, fmt.Errorf("no route %s %s: %w", r.Method, r.URL.Path, flotilla.ErrNotFound))
	}))
	if s.UI != nil {
		mux.Handle("/", s.UI)
	}
}
