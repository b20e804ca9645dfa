package api

import (
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// What a web page can make a browser send without asking the server first
// (a "simple" request: GET, HEAD, or POST with a text/plain, form or
// multipart body) is what must never change anything here. Three checks,
// each closing one way in:
//
//   - requireJSON (everywhere, AWS too): a request with a body must say
//     application/json. A browser sends that type cross-origin only after
//     a CORS preflight, which local mode never answers and API Gateway
//     answers only for the UI's origin, so a page's text/plain or form
//     POST is refused before it is read.
//   - LocalGuard (local mode, where there is no sign-in): the Host must be
//     one of this server's own names, so a DNS-rebinding page whose own name
//     now points at 127.0.0.1 gets nothing; and a request a browser marks as
//     coming from another origin (Origin, Sec-Fetch-Site) is refused.
//   - securityHeaders: the UI cannot be framed, sniffed or made to load
//     scripts from elsewhere.
//
// Behind API Gateway the caller needs a JWT in the Authorization header,
// which a foreign page cannot send without a preflight, and the UI lives on
// another origin (CloudFront) by design, so the Host and Origin checks do
// not apply there; the body type check does.
// The request classes are the Fetch standard's "CORS-safelisted request
// header" rules: https://fetch.spec.whatwg.org/#cors-safelisted-request-header
//
// Besides, checkQuery refuses a query string Go cannot parse, which would
// otherwise reach the handlers as no query at all.

// requireJSON answers 415 to a request whose body (or declared body type)
// is not application/json. Requests without a body and without a
// Content-Type (GET, DELETE, POST …/stop from the CLI) pass.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
		if ct == "" && !hasBody {
			next.ServeHTTP(w, r)
			return
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
			writeProblem(w, http.StatusUnsupportedMediaType, "Unsupported media type",
				"the body must be JSON sent with Content-Type: application/json (not "+quoteOrNone(ct)+")")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkQuery answers 400 to a query string Go will not parse (a bad
// escape, more parameters than net/url accepts — 10,000 by default):
// r.URL.Query() would otherwise drop it silently and a filtered list would
// come back unfiltered.
func checkQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			writeError(w, r, slog.New(slog.DiscardHandler), flotilla.Invalid("query", "cannot be read: %v", err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func quoteOrNone(s string) string {
	if s == "" {
		return "no Content-Type"
	}
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// LocalHosts lists the Host names a local server answers to: the loopback
// names, the host of its listen address, and the names given (with
// --allowed-hosts). Ports are not part of the check: the listener already
// decides which port is reached.
func LocalHosts(listenAddr string, extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(listenAddr); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	for _, h := range extra {
		if h = strings.TrimSpace(h); h != "" {
			if hh, _, err := net.SplitHostPort(h); err == nil {
				h = hh
			}
			hosts = append(hosts, strings.Trim(h, "[]"))
		}
	}
	return hosts
}

// LocalGuard wraps a local server's handler: it answers only to the given
// Host names (421 otherwise) and refuses requests a browser marks as sent
// by another origin (403). Clients that are not browsers (the CLI, curl,
// scripts) send no Origin and no Sec-Fetch-* headers and are unaffected.
func LocalGuard(next http.Handler, hosts []string) http.Handler {
	allowed := map[string]bool{}
	for _, h := range hosts {
		allowed[strings.ToLower(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostName(r.Host)
		if !allowed[host] {
			writeProblem(w, http.StatusMisdirectedRequest, "Unknown host",
				"this server answers to "+strings.Join(hosts, ", ")+"; add the name with --allowed-hosts (FLOTILLA_ALLOWED_HOSTS) if it is yours")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Scheme != "http" && u.Scheme != "https" || !strings.EqualFold(u.Host, r.Host) || !allowed[hostName(u.Host)] {
				writeProblem(w, http.StatusForbidden, "Cross-origin request refused",
					"requests from web pages of another origin are refused; this server's own UI is at its own address")
				return
			}
		}
		// Sec-Fetch-Site is set by browsers only, and cannot be set by a page
		// (a forbidden header name). A top-level navigation from elsewhere
		// (a link to a run's page) is harmless: it reads nothing back and,
		// being a GET, changes nothing.
		switch r.Header.Get("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			navigation := r.Header.Get("Sec-Fetch-Mode") == "navigate" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
			if !navigation || strings.HasPrefix(r.URL.Path, "/v1/") {
				writeProblem(w, http.StatusForbidden, "Cross-origin request refused",
					"requests from web pages of another site are refused; this server's own UI is at its own address")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hostName is the lower-case host of a Host header, without port or IPv6
// brackets.
func hostName(hostport string) string {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// uiCSP suits the built web app: one module script and one stylesheet from
// the app's own origin (web/dist/index.html has no inline script or
// style; React sets style properties through the DOM, which CSP allows),
// API calls to the same origin, and the Cognito hosted UI reached by
// navigation, not fetch — except the token exchange, which the deployed UI
// (served by CloudFront, not here) makes.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// apiCSP is for JSON answers: nothing in them may load or run anything.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// securityHeaders adds the usual protections to every answer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			h.Set("Content-Security-Policy", apiCSP)
		} else {
			h.Set("Content-Security-Policy", uiCSP)
		}
		next.ServeHTTP(w, r)
	})
}
