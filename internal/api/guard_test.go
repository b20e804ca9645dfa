package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flotilla-run/flotilla/internal/api"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// TestWebPagesCannotDriveTheLocalServer sends what a hostile web page can
// make the user's browser send to a local server, and checks each is
// refused and nothing was written; the CLI's and the UI's own requests
// still work.
func TestWebPagesCannotDriveTheLocalServer(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	guarded := api.LocalGuard(h.h, api.LocalHosts("127.0.0.1:8080", []string{"flotilla.lan"}))
	const def = `{"alias":"pwn","image":"alpine:3","command":"id","cpu":256,"memory":512}`
	send := func(method, target, host, body string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Host = host
		if body == "" {
			req.Body = http.NoBody
			req.ContentLength = 0
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		name   string
		host   string
		header map[string]string
		want   int
	}{
		{"text/plain POST (no preflight)", "127.0.0.1:8080", map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, 415},
		{"form POST", "127.0.0.1:8080", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"multipart POST", "127.0.0.1:8080", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 415},
		{"no Content-Type with a body", "127.0.0.1:8080", nil, 415},
		{"JSON from a foreign Origin", "127.0.0.1:8080", map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, 403},
		{"JSON from another loopback port", "127.0.0.1:8080", map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:9999"}, 403},
		{"JSON from an opaque origin", "127.0.0.1:8080", map[string]string{"Content-Type": "application/json", "Origin": "null"}, 403},
		{"JSON marked cross-site", "127.0.0.1:8080", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"JSON marked same-site (another port)", "127.0.0.1:8080", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403},
		{"DNS rebinding: a foreign Host", "evil.example:8080", map[string]string{"Content-Type": "application/json"}, 421},
		{"DNS rebinding with a matching Origin", "evil.example:8080", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example:8080"}, 421},
	} {
		rec := send("POST", "/v1/definitions", tc.host, def, tc.header)
		if rec.Code != tc.want {
			t.Errorf("%s: got %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
		if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want a problem document", tc.name, ct)
		}
	}
	// A launch and a stop from a page are refused just the same.
	base := h.createDefinition("base", "echo hi")
	run := h.launch(base.Alias, parkedCluster)
	for _, path := range []string{"/v1/runs", "/v1/runs/" + run.ID + "/stop"} {
		if rec := send("POST", path, "localhost:8080", "", map[string]string{"Origin": "http://attacker.test"}); rec.Code != 403 {
			t.Errorf("POST %s from a foreign origin: %d %s", path, rec.Code, rec.Body)
		}
		if rec := send("POST", path, "localhost:8080", `{"definition":"base"}`, map[string]string{"Content-Type": "text/plain"}); rec.Code != 415 {
			t.Errorf("POST %s as text/plain: %d %s", path, rec.Code, rec.Body)
		}
	}
	if _, err := h.store.GetDefinition(context.Background(), "pwn"); err == nil {
		t.Fatal("a refused request created the definition")
	}
	page, err := h.store.ListRuns(context.Background(), flotilla.RunFilter{Limit: 10})
	if err != nil || len(page.Items) != 1 || page.Items[0].Status != flotilla.StatusQueued {
		t.Fatalf("runs after refused requests: %+v %v (want the one QUEUED run)", page.Items, err)
	}

	// What still works: the CLI (no Origin, JSON), the UI (same origin,
	// JSON, Sec-Fetch-Site same-origin), a configured remote name, a
	// bodiless stop, and a link to a UI page from elsewhere.
	for _, tc := range []struct {
		name, method, target, host, body string
		header                           map[string]string
		want                             int
	}{
		{"CLI create", "POST", "/v1/definitions", "127.0.0.1:8080", strings.Replace(def, "pwn", "cli", 1), map[string]string{"Content-Type": "application/json"}, 201},
		{"UI create", "POST", "/v1/definitions", "localhost:8080", strings.Replace(def, "pwn", "ui", 1), map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": "http://localhost:8080", "Sec-Fetch-Site": "same-origin"}, 201},
		{"IPv6 loopback", "GET", "/v1/definitions", "[::1]:8080", "", nil, 200},
		{"allowed remote name", "GET", "/v1/definitions", "flotilla.lan:8080", "", map[string]string{"Origin": "http://flotilla.lan:8080"}, 200},
		{"CLI stop, no body", "POST", "/v1/runs/" + run.ID + "/stop", "127.0.0.1:8080", "", nil, 202},
		// The harness serves no UI: 404, not a refusal.
		{"link to the UI from another site", "GET", "/runs/" + run.ID, "127.0.0.1:8080", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 404},
	} {
		if rec := send(tc.method, tc.target, tc.host, tc.body, tc.header); rec.Code != tc.want {
			t.Errorf("%s: got %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
}

// TestSecurityHeaders: every answer carries nosniff, no framing and no
// referrer; JSON answers a CSP that loads nothing.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := setup(t, options{noConsume: true})
	for _, path := range []string{"/v1/health", "/v1/definitions", "/v1/nope"} {
		r := h.do("GET", path, nil)
		for k, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
}
