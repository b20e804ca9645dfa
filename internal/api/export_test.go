package api

// Routes lists "METHOD pattern" of every route, for the tests in api_test.
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.method + " " + rt.pattern
	}
	return out
}

// OpenAPIDocument is the document /v1/openapi.json serves.
var OpenAPIDocument = openAPIDocument

// The unexported bodies, for the tests that compare them with openapi.json.
type (
	DefinitionInput = definitionInput
	LogsResponse    = logsResponse
	CostItem        = costItem
)

// AllRouteKeys lists every route, schedules included, as "METHOD pattern".
func AllRouteKeys() []string {
	var keys []string
	for _, rt := range append(routes, scheduleRoutes...) {
		keys = append(keys, rt.method+" "+rt.pattern)
	}
	return keys
}

// RouteAccess is the access rule of a route ("" when it has none).
func RouteAccess(key string) string { return string(routeAccess[key]) }
