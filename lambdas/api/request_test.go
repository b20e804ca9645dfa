package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// event is an HTTP API (payload 2.0) request as API Gateway sends it.
func event(stage, rawPath string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: rawPath,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage: stage, DomainName: "abc.execute-api.eu-west-1.amazonaws.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: rawPath},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

// serve runs ev through the real adapter and stripStage in front of a mux
// that echoes the path it routed and the owner it resolved.
func serve(t *testing.T, ev events.APIGatewayV2HTTPRequest) (int, map[string]string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		owner, err := ownerFromClaims(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"id": r.PathValue("id"), "owner": owner})
	})
	resp, err := httpadapter.NewV2(mux).ProxyWithContext(context.Background(), stripStage(ev))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.Unmarshal([]byte(resp.Body), &body)
	return resp.StatusCode, body
}

func TestOwnerFromClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims map[string]string
		status int
		owner  string
	}{
		// One person is one owner whatever the token: the sub.
		{"ID token: the sub, not the email", map[string]string{"email": "ann@example.com", "email_verified": "true", "sub": "1234-abcd", "token_use": "id"}, 200, "1234-abcd"},
		{"access token: the sub", map[string]string{"sub": "1234-abcd", "client_id": "app", "token_use": "access"}, 200, "1234-abcd"},
		{"an email alone names no one", map[string]string{"email": "ann@example.com"}, 401, ""},
		{"neither", map[string]string{"scope": "openid"}, 401, ""},
		{"no authorizer", nil, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := serve(t, event("$default", "/v1/runs/run_1", tt.claims))
			if status != tt.status || body["owner"] != tt.owner {
				t.Errorf("got %d owner %q, want %d owner %q", status, body["owner"], tt.status, tt.owner)
			}
		})
	}
}

func TestStageDoesNotBreakRouting(t *testing.T) {
	t.Parallel()
	claims := map[string]string{"sub": "1234-abcd"}
	tests := []struct {
		name, stage, path string
		status            int
	}{
		{"default stage", "$default", "/v1/runs/run_1", 200},
		{"no stage", "", "/v1/runs/run_1", 200},
		{"named stage prefix", "prod", "/prod/v1/runs/run_1", 200},
		{"named stage without prefix", "prod", "/v1/runs/run_1", 200},
		{"stage name inside a segment is kept", "prod", "/production/v1/runs/run_1", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := serve(t, event(tt.stage, tt.path, claims))
			if status != tt.status {
				t.Fatalf("%s: status %d, want %d", tt.path, status, tt.status)
			}
			if status == 200 && body["id"] != "run_1" {
				t.Errorf("%s: routed id %q, want run_1", tt.path, body["id"])
			}
		})
	}
}

func TestStripStageRoot(t *testing.T) {
	t.Parallel()
	ev := stripStage(event("prod", "/prod", nil))
	if ev.RawPath != "/" || ev.RequestContext.HTTP.Path != "/" {
		t.Errorf("rawPath %q path %q, want /", ev.RawPath, ev.RequestContext.HTTP.Path)
	}
}

func TestNameAndAdminFromClaims(t *testing.T) {
	t.Parallel()
	req := func(claims map[string]string) *http.Request {
		var got *http.Request
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) { got = r; w.WriteHeader(http.StatusNoContent) })
		if _, err := httpadapter.NewV2(mux).ProxyWithContext(context.Background(), event("$default", "/v1/runs/x", claims)); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if n := nameFromClaims(req(map[string]string{"sub": "s", "email": "ann@example.com", "email_verified": "true"})); n != "ann@example.com" {
		t.Errorf("verified e-mail: name %q", n)
	}
	if n := nameFromClaims(req(map[string]string{"sub": "s", "email": "ann@example.com", "email_verified": "false"})); n != "" {
		t.Errorf("unverified e-mail used as a name: %q", n)
	}
	admin := adminFromClaims("flotilla-admins")
	for claim, want := range map[string]bool{
		"[flotilla-admins]":      true,
		"[data flotilla-admins]": true,
		"data,flotilla-admins":   true,
		"[flotilla-admins-not]":  false,
		"":                       false,
		`["flotilla-admins"]`:    true,
	} {
		if got := admin(req(map[string]string{"sub": "s", "cognito:groups": claim})); got != want {
			t.Errorf("cognito:groups %q: admin %v, want %v", claim, got, want)
		}
	}
	if adminFromClaims("")(req(map[string]string{"sub": "s", "cognito:groups": "[flotilla-admins]"})) {
		t.Error("an admin without an admin group configured")
	}
}
