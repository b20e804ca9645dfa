package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// `flotilla login` signs in to a deployed Flotilla with the OAuth 2.0
// authorization code flow and PKCE (RFC 7636, S256) against the Cognito
// hosted UI, with a loopback redirect (RFC 8252): the browser comes back to
// http://localhost:<port>/callback, which the app client allows (infra
// context flotilla:cli_callback_urls). The ID token is stored, since it
// carries the email the API names run owners by.

// defaultCallbackPort is the port of the redirect URI the stack allows.
const defaultCallbackPort = 8976

type loginOptions struct {
	uiURL, domain, clientID string
	port                    int
	noBrowser               bool
	timeout                 time.Duration
}

func loginCmd(e *env) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to a deployed Flotilla in your browser and save the token later commands send",
		Long: `Sign in to a Flotilla deployed on AWS, through its sign-in page (Cognito hosted UI),
and save the token at ~/.config/flotilla/token for the other commands.

Name the deployment by its web UI, whose /config.json holds the sign-in settings:
  flotilla login --ui-url https://d1234abcd.cloudfront.net
or by the stack outputs AuthDomain and UserPoolClientId:
  flotilla login --domain https://flotilla-123456789012.auth.eu-west-1.amazoncognito.com --client-id 1abc...

Then point the CLI at the API (the stack output ApiUrl): export FLOTILLA_URL=<ApiUrl>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return login(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.uiURL, "ui-url", "", "the deployed web UI (reads <ui-url>/config.json)")
	f.StringVar(&o.domain, "domain", "", "the hosted UI domain (stack output AuthDomain)")
	f.StringVar(&o.clientID, "client-id", "", "the app client id (stack output UserPoolClientId)")
	f.IntVar(&o.port, "callback-port", defaultCallbackPort, "loopback port of the redirect URI; the app client must allow http://localhost:<port>/callback")
	f.BoolVar(&o.noBrowser, "no-browser", false, "only print the sign-in URL")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the sign-in")
	return cmd
}

// signIn is where and as whom to sign in.
type signIn struct {
	domain   string // https://<prefix>.auth.<region>.amazoncognito.com
	clientID string
	apiURL   string // from config.json, to suggest FLOTILLA_URL
}

// uiConfig is the web UI's /config.json (web/src/config.ts; infra writes it).
type uiConfig struct {
	APIBaseURL string `json:"api_base_url"`
	Auth       *struct {
		ClientID string `json:"client_id"`
		Domain   string `json:"domain"`
	} `json:"auth"`
}

func login(ctx context.Context, e *env, o loginOptions) error {
	si, err := signInSettings(ctx, o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if err != nil {
		return fmt.Errorf("listen for the sign-in redirect on port %d: %w (is another `flotilla login` running?)", o.port, err)
	}
	defer ln.Close()
	redirectURI := fmt.Sprintf("http://localhost:%d/callback", ln.Addr().(*net.TCPAddr).Port)

	verifier, state := randomToken(48), randomToken(16)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {si.clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid email profile"},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	authorize := si.domain + "/oauth2/authorize?" + q.Encode()

	codes := make(chan callbackResult, 1)
	srv := &http.Server{Handler: callbackHandler(state, codes), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer func() {
		// Let the callback's page finish before the server goes away.
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	}()

	fmt.Fprintf(e.stderr, "Sign in to Flotilla in your browser:\n\n  %s\n\nWaiting for the sign-in (%s)...\n", authorize, o.timeout)
	if !o.noBrowser {
		if err := openBrowser(e, authorize); err != nil {
			fmt.Fprintf(e.stderr, "(could not open a browser: %v; open the URL above)\n", err)
		}
	}
	var res callbackResult
	select {
	case res = <-codes:
	case <-ctx.Done():
		return fmt.Errorf("no sign-in within %s: %w", o.timeout, ctx.Err())
	}
	if res.err != nil {
		return res.err
	}
	tok, err := exchangeCode(ctx, si, res.code, redirectURI, verifier)
	if err != nil {
		return err
	}
	path, err := saveToken(e, tok.IDToken)
	if err != nil {
		return err
	}
	who := tokenSubject(tok.IDToken)
	fmt.Fprintf(e.stdout, "Signed in as %s. The token is saved in %s", who, path)
	if tok.ExpiresIn > 0 {
		fmt.Fprintf(e.stdout, " and is good for %s", (time.Duration(tok.ExpiresIn) * time.Second).String())
	}
	fmt.Fprintln(e.stdout, ".")
	if si.apiURL != "" && e.getenv("FLOTILLA_URL") != strings.TrimRight(si.apiURL, "/") {
		fmt.Fprintf(e.stdout, "Point the CLI at this deployment's API:\n  export FLOTILLA_URL=%s\n", strings.TrimRight(si.apiURL, "/"))
	}
	return nil
}

// signInSettings reads config.json when --ui-url is given, else the flags.
func signInSettings(ctx context.Context, o loginOptions) (signIn, error) {
	if o.uiURL == "" {
		if o.domain == "" || o.clientID == "" {
			return signIn{}, errors.New("say which deployment to sign in to: --ui-url <UiUrl>, or --domain <AuthDomain> and --client-id <UserPoolClientId> (the stack outputs)")
		}
		return signIn{domain: withScheme(o.domain), clientID: o.clientID}, nil
	}
	u := strings.TrimRight(withScheme(o.uiURL), "/") + "/config.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return signIn{}, fmt.Errorf("--ui-url: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return signIn{}, fmt.Errorf("read the sign-in settings: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return signIn{}, fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return signIn{}, fmt.Errorf("read %s: %s", u, resp.Status)
	}
	var c uiConfig
	if err := json.Unmarshal(body, &c); err != nil {
		return signIn{}, fmt.Errorf("%s is not the web UI's config: %w", u, err)
	}
	if c.Auth == nil {
		return signIn{}, fmt.Errorf("%s has no sign-in settings: that Flotilla needs no login", u)
	}
	if c.Auth.Domain == "" || c.Auth.ClientID == "" {
		return signIn{}, fmt.Errorf("%s: auth.domain and auth.client_id are required", u)
	}
	domain, clientID := c.Auth.Domain, c.Auth.ClientID
	if o.domain != "" {
		domain = o.domain
	}
	if o.clientID != "" {
		clientID = o.clientID
	}
	return signIn{domain: withScheme(domain), clientID: clientID, apiURL: c.APIBaseURL}, nil
}

// withScheme makes "host" https://host and drops a trailing slash.
func withScheme(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		s = "https://" + s
	}
	return s
}

type callbackResult struct {
	code string
	err  error
}

// callbackHandler takes the first redirect that carries the expected state
// and hands its code (or its error) over. Requests with another state are
// refused and do not end the wait, so a stray request cannot abort a sign-in.
func callbackHandler(state string, out chan<- callbackResult) http.Handler {
	var answered atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state {
			http.Error(w, "This sign-in link is not the one `flotilla login` is waiting for.", http.StatusBadRequest)
			return
		}
		var res callbackResult
		switch {
		case q.Get("error") != "":
			res.err = fmt.Errorf("sign-in refused: %s %s", q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			res.err = errors.New("sign-in redirect without a code")
		default:
			res.code = q.Get("code")
		}
		if !answered.CompareAndSwap(false, true) {
			http.Error(w, "This sign-in is already done.", http.StatusConflict)
			return
		}
		// The page is written before the result is handed over: once it is,
		// login may return and close the server, and a browser still waiting
		// for this response would see the connection drop instead.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "<!doctype html><title>Flotilla</title><p>Sign-in failed: %s</p>", html.EscapeString(res.err.Error()))
		} else {
			io.WriteString(w, "<!doctype html><title>Flotilla</title><p>Signed in to Flotilla. You can close this tab and go back to the terminal.</p>")
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		out <- res // buffered for exactly this one result
	})
	return mux
}

type tokenResponse struct {
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// exchangeCode trades the code and the PKCE verifier for tokens.
func exchangeCode(ctx context.Context, si signIn, code, redirectURI, verifier string) (tokenResponse, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {si.clientID},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, si.domain+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("sign-in: token exchange: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &oe)
		return tokenResponse{}, fmt.Errorf("sign-in: the token endpoint answered %s: %s %s", resp.Status, oe.Error, oe.Description)
	}
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil || t.IDToken == "" {
		return tokenResponse{}, fmt.Errorf("sign-in: the token endpoint answered no id_token (%v)", err)
	}
	return t, nil
}

// saveToken writes the token where the other commands read it, readable
// by its owner only (os.CreateTemp makes the file 0600), replacing the old
// one in one rename.
func saveToken(e *env, token string) (string, error) {
	dir := e.configDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("save the token: %w", err)
	}
	f, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return "", fmt.Errorf("save the token: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	_, err = io.WriteString(f, token+"\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	path := filepath.Join(dir, "token")
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("save the token: %w", err)
	}
	return path, nil
}

// tokenSubject reads the email (else the sub) from a JWT's payload, for
// the greeting only: the API checks the signature.
func tokenSubject(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "you"
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "you"
	}
	var c struct{ Email, Sub string }
	if json.Unmarshal(b, &c) != nil {
		return "you"
	}
	switch {
	case c.Email != "":
		return c.Email
	case c.Sub != "":
		return c.Sub
	}
	return "you"
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openBrowser runs $BROWSER, else the desktop's opener.
func openBrowser(e *env, u string) error {
	name := e.getenv("BROWSER")
	switch {
	case name != "":
	case runtime.GOOS == "darwin":
		name = "open"
	case runtime.GOOS == "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler", u).Start()
	default:
		name = "xdg-open"
	}
	cmd := exec.Command(name, u)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
