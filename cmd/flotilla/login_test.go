package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCognito is the part of a Cognito user pool's hosted UI that `flotilla
// login` uses: /oauth2/authorize signs the user in at once and redirects
// with a code; /oauth2/token trades the code for tokens only with the PKCE
// verifier whose S256 challenge came with the authorize request. It also
// serves the web UI's /config.json.
type fakeCognito struct {
	t        *testing.T
	url      string
	clientID string
	email    string
	deny     bool // answer authorize with error=access_denied

	mu     sync.Mutex
	codes  map[string]pendingCode
	tokens int
}

type pendingCode struct{ challenge, redirectURI, clientID string }

func newFakeCognito(t *testing.T) *fakeCognito {
	f := &fakeCognito{t: t, clientID: "cli-client-1", email: "ann@example.com", codes: map[string]pendingCode{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeCognito) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/config.json":
		json.NewEncoder(w).Encode(map[string]any{
			"api_base_url": "https://api.example.test",
			"auth": map[string]any{"region": "eu-west-1", "user_pool_id": "eu-west-1_abc", "client_id": f.clientID,
				"domain": f.url, "redirect_uri": "https://ui.example.test/"},
		})
	case "/oauth2/authorize":
		q := r.URL.Query()
		for k, want := range map[string]string{"response_type": "code", "client_id": f.clientID, "code_challenge_method": "S256"} {
			if q.Get(k) != want {
				http.Error(w, fmt.Sprintf("%s=%q, want %q", k, q.Get(k), want), http.StatusBadRequest)
				return
			}
		}
		if !strings.Contains(" "+q.Get("scope")+" ", " openid ") || q.Get("code_challenge") == "" || q.Get("state") == "" {
			http.Error(w, "scope openid, code_challenge and state are required", http.StatusBadRequest)
			return
		}
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || back.Scheme != "http" || back.Hostname() != "localhost" || back.Path != "/callback" {
			http.Error(w, "redirect_uri is not an allowed loopback callback", http.StatusBadRequest)
			return
		}
		ret := url.Values{"state": {q.Get("state")}}
		if f.deny {
			ret.Set("error", "access_denied")
			ret.Set("error_description", "User is not confirmed.")
		} else {
			code := randomToken(12)
			f.mu.Lock()
			f.codes[code] = pendingCode{challenge: q.Get("code_challenge"), redirectURI: back.String(), clientID: q.Get("client_id")}
			f.mu.Unlock()
			ret.Set("code", code)
		}
		back.RawQuery = ret.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	case "/oauth2/token":
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			http.Error(w, "POST a form", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		p, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code")) // a code is good once
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case r.PostForm.Get("grant_type") != "authorization_code", !ok,
			r.PostForm.Get("redirect_uri") != p.redirectURI, r.PostForm.Get("client_id") != p.clientID:
			oauthError(w, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != p.challenge:
			oauthError(w, "invalid_grant") // the PKCE check
			return
		}
		f.mu.Lock()
		f.tokens++
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{
			"id_token":      fakeJWT(map[string]any{"email": f.email, "sub": "5f0c-1234", "token_use": "id", "aud": f.clientID}),
			"access_token":  fakeJWT(map[string]any{"sub": "5f0c-1234", "token_use": "access"}),
			"refresh_token": "refresh", "expires_in": 3600, "token_type": "Bearer",
		})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeCognito) exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens
}

// The fake checks PKCE: the code is worth nothing without the verifier
// (so the sign-ins above prove the CLI sends the right one).
func TestFakeCognitoChecksTheVerifier(t *testing.T) {
	t.Parallel()
	f := newFakeCognito(t)
	sum := sha256.Sum256([]byte("the-real-verifier"))
	q := url.Values{"response_type": {"code"}, "client_id": {f.clientID}, "redirect_uri": {"http://localhost:8976/callback"},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(f.url + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	si := signIn{domain: f.url, clientID: f.clientID}
	if _, err := exchangeCode(context.Background(), si, code, "http://localhost:8976/callback", "a-guessed-verifier"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("exchange with a wrong verifier: %v, want invalid_grant", err)
	}
	if _, err := exchangeCode(context.Background(), si, code, "http://localhost:8976/callback", "the-real-verifier"); err == nil {
		t.Fatal("a code was good after a failed exchange")
	}
}

func oauthError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func fakeJWT(claims map[string]any) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]string{"alg": "RS256", "kid": "k1"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

// loginRun runs `flotilla login args...` and plays the browser: it opens
// the printed sign-in URL and follows the redirects back to the CLI's
// loopback callback (or calls visit with it instead).
func loginRun(t *testing.T, configDir string, visit func(authorize string), args ...string) (stdout string, err error) {
	t.Helper()
	var out strings.Builder
	stderrR, stderrW := io.Pipe()
	getenv := func(k string) string {
		if k == "FLOTILLA_CONFIG_DIR" {
			return configDir
		}
		return ""
	}
	done := make(chan error, 1)
	go func() {
		e := &env{getenv: getenv, stdout: &out, stderr: stderrW}
		root := newRoot(e)
		root.SetArgs(append([]string{"login", "--no-browser", "--callback-port", "0", "--timeout", "20s"}, args...))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.ExecuteContext(context.Background())
		stderrW.Close()
		done <- err
	}()
	authorizeURL := regexp.MustCompile(`https?://\S+/oauth2/authorize\?\S+`)
	var all strings.Builder
	buf := make([]byte, 4096)
	for {
		n, rerr := stderrR.Read(buf)
		all.Write(buf[:n])
		if u := authorizeURL.FindString(all.String()); u != "" {
			go io.Copy(io.Discard, stderrR)
			visit(u)
			break
		}
		if rerr != nil {
			break
		}
	}
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("login did not end; it printed:\n%s", all.String())
	}
	return out.String(), err
}

// browser follows the sign-in URL and its redirects, as a browser would.
func browser(t *testing.T) func(string) {
	return func(u string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("browser: %v", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func TestLoginWithUIConfig(t *testing.T) {
	t.Parallel()
	f := newFakeCognito(t)
	dir := filepath.Join(t.TempDir(), "flotilla")
	out, err := loginRun(t, dir, browser(t), "--ui-url", f.url)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if claims := strings.Split(strings.TrimSpace(string(b)), "."); len(claims) != 3 || tokenSubject(strings.TrimSpace(string(b))) != f.email {
		t.Errorf("saved token %q is not the ID token of %s", b, f.email)
	}
	st, _ := os.Stat(filepath.Join(dir, "token"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	for _, want := range []string{"Signed in as ann@example.com", "export FLOTILLA_URL=https://api.example.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	// Later commands send it.
	e := &env{getenv: func(k string) string {
		if k == "FLOTILLA_CONFIG_DIR" {
			return dir
		}
		return ""
	}}
	if got := e.client().Token; got != strings.TrimSpace(string(b)) {
		t.Errorf("client token %q, want the saved one", got)
	}
}

func TestLoginWithDomainAndClientID(t *testing.T) {
	t.Parallel()
	f := newFakeCognito(t)
	dir := t.TempDir()
	if _, err := loginRun(t, dir, browser(t), "--domain", f.url+"/", "--client-id", f.clientID); err != nil {
		t.Fatalf("login: %v", err)
	}
	if n := f.exchanges(); n != 1 {
		t.Errorf("%d token exchanges, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "token")); err != nil {
		t.Error(err)
	}
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	t.Run("an unknown client id is refused at authorize", func(t *testing.T) {
		t.Parallel()
		f := newFakeCognito(t)
		dir := t.TempDir()
		var status int
		_, err := loginRun(t, dir, func(u string) {
			resp, err := http.Get(u)
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
		}, "--domain", f.url, "--client-id", "someone-else", "--timeout", "1s")
		if err == nil || status != http.StatusBadRequest {
			t.Errorf("login: %v after authorize answered %d, want a timeout after a 400", err, status)
		}
		assertNoToken(t, dir)
	})
	t.Run("sign-in refused", func(t *testing.T) {
		t.Parallel()
		f := newFakeCognito(t)
		f.deny = true
		dir := t.TempDir()
		_, err := loginRun(t, dir, browser(t), "--ui-url", f.url)
		if err == nil || !strings.Contains(err.Error(), "access_denied") {
			t.Errorf("login: %v, want the refusal", err)
		}
		assertNoToken(t, dir)
	})
	t.Run("a callback with another state is refused and does not end the wait", func(t *testing.T) {
		t.Parallel()
		f := newFakeCognito(t)
		dir := t.TempDir()
		_, err := loginRun(t, dir, func(u string) {
			q, _ := url.Parse(u)
			cb, _ := url.Parse(q.Query().Get("redirect_uri"))
			forged := cb.String() + "?code=stolen&state=forged"
			resp, err := http.Get(forged)
			if err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("forged callback: %v %v, want 400", resp, err)
			}
			if resp != nil {
				resp.Body.Close()
			}
			browser(t)(u) // the real sign-in still completes
		}, "--ui-url", f.url)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if n := f.exchanges(); n != 1 {
			t.Errorf("%d token exchanges, want 1", n)
		}
	})
	t.Run("a deployment without sign-in", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"api_base_url":"","auth":null}`)
		}))
		defer srv.Close()
		e := &env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard}
		err := login(context.Background(), e, loginOptions{uiURL: srv.URL, timeout: time.Second})
		if err == nil || !strings.Contains(err.Error(), "needs no login") {
			t.Errorf("login: %v, want 'needs no login'", err)
		}
	})
	t.Run("no deployment named", func(t *testing.T) {
		t.Parallel()
		e := &env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard}
		if err := login(context.Background(), e, loginOptions{domain: "x.example"}); err == nil || !strings.Contains(err.Error(), "--client-id") {
			t.Errorf("login: %v, want it to ask for --client-id", err)
		}
	})
}

func assertNoToken(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "token")); err == nil {
		t.Error("a token was saved")
	}
}
