package awsfake

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sync"
)

// Cognito is a fake of the Cognito user pools API (AWS JSON 1.1, target
// AWSCognitoIdentityProviderService.<Op>) that answers ListUsers with a
// sub filter, the one call Flotilla makes, from users set by the test. Its
// shape is written from the Cognito API Reference (ListUsers); only this
// fake has checked it against Flotilla's adapter, not AWS.
type Cognito struct {
	mu    sync.Mutex
	users map[string]bool // sub → enabled
	calls int
}

// NewCognito returns a fake with no users.
func NewCognito() *Cognito { return &Cognito{users: map[string]bool{}} }

// SetUser adds or changes a user by sub; enabled false is a disabled user.
func (c *Cognito) SetUser(sub string, enabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users[sub] = enabled
}

// DeleteUser removes a user.
func (c *Cognito) DeleteUser(sub string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.users, sub)
}

// Calls is how many ListUsers calls were answered.
func (c *Cognito) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

var subFilter = regexp.MustCompile(`^sub\s*=\s*"([^"]*)"$`)

// ServeHTTP implements http.Handler.
func (c *Cognito) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if r.Header.Get("X-Amz-Target") != "AWSCognitoIdentityProviderService.ListUsers" {
		fail(http.StatusBadRequest, "UnknownOperationException", "the fake answers ListUsers only")
		return
	}
	var in struct {
		UserPoolId, Filter string
		Limit              int
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil || in.UserPoolId == "" {
		fail(http.StatusBadRequest, "InvalidParameterException", "UserPoolId is required")
		return
	}
	m := subFilter.FindStringSubmatch(in.Filter)
	if m == nil {
		fail(http.StatusBadRequest, "InvalidParameterException", "the fake filters on sub only")
		return
	}
	c.mu.Lock()
	c.calls++
	enabled, ok := c.users[m[1]]
	c.mu.Unlock()
	users := []any{}
	if ok {
		users = append(users, map[string]any{"Username": "user-" + m[1], "Enabled": enabled, "UserStatus": "CONFIRMED",
			"Attributes": []map[string]string{{"Name": "sub", "Value": m[1]}}})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"Users": users})
}
