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
var errNoIdentity = errors.New("no JWT claims with an email or sub in the request")

// ownerFromClaims names the caller from the JWT claims API Gateway's
// authorizer put in the request context: the email (Cognito ID tokens carry
// it) or else the sub (access tokens have no email).
func ownerFromClaims(r *http.Request) (string, error) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return "", errNoIdentity
	}
	claims := rc.Authorizer.JWT.Claims
	if email := strings.TrimSpace(claims["email"]); email != "" {
		return email, nil
	}
	if sub := strings.TrimSpace(claims["sub"]); sub != "" {
		return sub, nil
	}
	return "", errNoIdentity
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
