package main

import (
	"errors"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// errNoIdentity answers 401: the request carries no JWT claims naming a
// caller (API Gateway's authorizer lets no such request through, except to
// the public health route).
var errNoIdentity = errors.New("no JWT sub claim in the request")

// envAdminGroup names the Cognito group whose members are admins.
const envAdminGroup = "FLOTILLA_ADMIN_GROUP"

func claimsOf(r *http.Request) map[string]string {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return nil
	}
	return rc.Authorizer.JWT.Claims
}

// ownerFromClaims names the caller by the token's sub: a Cognito user's
// sub is the same in its ID and access tokens and never changes, while an
// e-mail may be changed or unverified (Cognito Developer Guide, "Using the
// ID token" and "Using the access token").
func ownerFromClaims(r *http.Request) (string, error) {
	if sub := strings.TrimSpace(claimsOf(r)["sub"]); sub != "" {
		return sub, nil
	}
	return "", errNoIdentity
}

// nameFromClaims is the caller's display name: the e-mail, only when the
// token says it is verified (ID tokens carry both; access tokens neither).
func nameFromClaims(r *http.Request) string {
	c := claimsOf(r)
	if c["email_verified"] == "true" {
		return strings.TrimSpace(c["email"])
	}
	return ""
}

// adminFromClaims: members of the named Cognito group are admins. API
// Gateway hands a list claim such as cognito:groups to the function as one
// string, "[a b]" (the JWT authorizer flattens arrays); both that and a
// comma-separated form are read.
func adminFromClaims(group string) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		if group == "" {
			return false
		}
		raw := strings.Trim(claimsOf(r)["cognito:groups"], "[]")
		for _, g := range strings.FieldsFunc(raw, func(c rune) bool { return c == ' ' || c == ',' }) {
			if strings.Trim(g, `"`) == group {
				return true
			}
		}
		return false
	}
}

// stripStage removes a named stage's prefix from the path: an HTTP API on
// a stage other than $default delivers rawPath as /<stage>/v1/…, which
// would not match the API's routes.
func stripStage(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
	stage := ev.RequestContext.Stage
	if stage == "" || stage == "$default" {
		return ev
	}
	prefix := "/" + stage
	for _, p := range []*string{&ev.RawPath, &ev.RequestContext.HTTP.Path} {
		if *p == prefix {
			*p = "/"
		} else if strings.HasPrefix(*p, prefix+"/") {
			*p = strings.TrimPrefix(*p, prefix)
		}
	}
	return ev
}
