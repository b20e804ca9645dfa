// Package client is a small typed client of the REST API v1, used by the
// CLI and the end-to-end tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Client talks to one Flotilla API.
type Client struct {
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	HTTP  *http.Client
}

// New returns a client of the API at baseURL.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Error is an API problem document.
type Error struct {
	Status int                   `json:"status"`
	Title  string                `json:"title"`
	Detail string                `json:"detail"`
	Errors []flotilla.FieldError `json:"errors"`
}

func (e *Error) Error() string {
	if len(e.Errors) > 0 {
		parts := make([]string, len(e.Errors))
		for i, f := range e.Errors {
			parts[i] = f.Field + ": " + f.Message
		}
		return fmt.Sprintf("%s (%d): %s", e.Title, e.Status, strings.Join(parts, "; "))
	}
	return fmt.Sprintf("%s (%d): %s", e.Title, e.Status, e.Detail)
}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when non-nil). It returns the HTTP status.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach Flotilla at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode, Title: resp.Status}
		if json.Unmarshal(data, e) != nil || e.Title == "" {
			e.Title, e.Detail = http.StatusText(resp.StatusCode), strings.TrimSpace(string(data))
		}
		return resp.StatusCode, e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// LogPage is GET /v1/runs/{id}/logs.
type LogPage struct {
	Events    []flotilla.LogEvent `json:"events"`
	NextToken string              `json:"next_token"`
	Complete  bool                `json:"complete"`
}

// GetRun reads one run.
func (c *Client) GetRun(ctx context.Context, id string) (flotilla.Run, error) {
	var r flotilla.Run
	_, err := c.Do(ctx, "GET", "/v1/runs/"+url.PathEscape(id), nil, nil, &r)
	return r, err
}

// Launch starts a run.
func (c *Client) Launch(ctx context.Context, req any) (flotilla.Run, error) {
	var r flotilla.Run
	_, err := c.Do(ctx, "POST", "/v1/runs", nil, req, &r)
	return r, err
}

// StopRun stops a run.
func (c *Client) StopRun(ctx context.Context, id string) (flotilla.Run, error) {
	var r flotilla.Run
	_, err := c.Do(ctx, "POST", "/v1/runs/"+url.PathEscape(id)+"/stop", nil, nil, &r)
	return r, err
}

// Logs reads a page of a run's logs.
func (c *Client) Logs(ctx context.Context, id string, q url.Values) (LogPage, error) {
	var p LogPage
	_, err := c.Do(ctx, "GET", "/v1/runs/"+url.PathEscape(id)+"/logs", q, nil, &p)
	return p, err
}

// ListRuns lists runs.
func (c *Client) ListRuns(ctx context.Context, q url.Values) (flotilla.Page[flotilla.Run], error) {
	var p flotilla.Page[flotilla.Run]
	_, err := c.Do(ctx, "GET", "/v1/runs", q, nil, &p)
	return p, err
}

// CreateDefinition creates a definition from a JSON-shaped body.
func (c *Client) CreateDefinition(ctx context.Context, body any) (flotilla.Definition, error) {
	var d flotilla.Definition
	_, err := c.Do(ctx, "POST", "/v1/definitions", nil, body, &d)
	return d, err
}
