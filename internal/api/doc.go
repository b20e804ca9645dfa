// Package api is Flotilla's REST API v1 (DESIGN §4) as one net/http
// handler, served by `flotilla serve` locally and by lambdas/api behind API
// Gateway. All routes are in routes.go; handlers are functions returning
// http.Handler; errors are RFC 9457 problem documents, mapped from the
// domain's error codes in one table (errors.go).
package api
