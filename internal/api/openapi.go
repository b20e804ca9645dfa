package api

import _ "embed"

// openAPIDocument is the OpenAPI 3.1 description of this API; a test checks
// it against the routes and the real responses.
//
//go:embed openapi.json
var openAPIDocument []byte
