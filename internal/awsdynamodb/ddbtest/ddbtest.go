// Package ddbtest serves minidyn (github.com/truora/minidyn), the in-process
// DynamoDB emulator the tests use, with one known fault of it mended.
//
// minidyn v0.8.2 ignores REMOVE of top-level attributes in UpdateItem and in
// TransactWriteItems' Update: its interpreter drops the attribute from its
// evaluation environment, then copies only the attributes left there back
// onto the stored item, so the removed one stays (interpreter
// Environment.Apply). DynamoDB removes it (DynamoDB Developer Guide, "Update
// expressions": REMOVE). The store's production writes rely on REMOVE to
// take a run out of the queue index, so without this mending they could only
// be tested by writing whole items instead (awsdynamodb.Options.PutOnRemove).
//
// Server serializes every request and, after minidyn accepted a write whose
// update expression removes top-level attributes, removes them from the
// stored item itself: GetItem, then PutItem of the item without them, under
// the same lock, so no other request sees the item in between. Nothing else
// is changed: conditions, transactions, indexes and errors are minidyn's.
package ddbtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	miniserver "github.com/truora/minidyn/server"
)

// Server is minidyn behind the REMOVE mending.
type Server struct {
	mu   sync.Mutex
	mini   http.Handler
	mended int
}

// Mended counts the writes whose REMOVE the Server applied.
func (s *Server) Mended() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mended
}

// New returns a Server over a fresh minidyn.
func New() *Server { return &Server{mini: miniserver.NewServer()} }

type update struct {
	TableName                string                     `json:"TableName"`
	Key                      map[string]json.RawMessage `json:"Key"`
	UpdateExpression         string                     `json:"UpdateExpression"`
	ExpressionAttributeNames map[string]string          `json:"ExpressionAttributeNames"`
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.forward(r.Header, body)
	if rec.Code == http.StatusOK {
		for _, u := range removals(r.Header.Get("X-Amz-Target"), body) {
			s.remove(r.Header, u)
		}
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (s *Server) forward(h http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header = h.Clone()
	rec := httptest.NewRecorder()
	s.mini.ServeHTTP(rec, req)
	return rec
}

// removals are the updates of a successful UpdateItem or TransactWriteItems
// request that remove attributes.
func removals(target string, body []byte) []update {
	var out []update
	switch {
	case strings.HasSuffix(target, ".UpdateItem"):
		var u update
		if json.Unmarshal(body, &u) == nil {
			out = append(out, u)
		}
	case strings.HasSuffix(target, ".TransactWriteItems"):
		var in struct {
			TransactItems []struct {
				Update *update `json:"Update"`
			} `json:"TransactItems"`
		}
		if json.Unmarshal(body, &in) == nil {
			for _, it := range in.TransactItems {
				if it.Update != nil {
					out = append(out, *it.Update)
				}
			}
		}
	}
	kept := out[:0]
	for _, u := range out {
		if len(removedNames(u)) > 0 {
			kept = append(kept, u)
		}
	}
	return kept
}

var clause = regexp.MustCompile(`(?i)\b(SET|REMOVE|ADD|DELETE)\b`)

// removedNames are the top-level attributes u's REMOVE clause names (paths
// into maps or lists are left to minidyn, which handles them).
func removedNames(u update) []string {
	expr := u.UpdateExpression
	locs := clause.FindAllStringIndex(expr, -1)
	var names []string
	for i, loc := range locs {
		if !strings.EqualFold(expr[loc[0]:loc[1]], "REMOVE") {
			continue
		}
		end := len(expr)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		for _, p := range strings.Split(expr[loc[1]:end], ",") {
			p = strings.TrimSpace(p)
			if p == "" || strings.ContainsAny(p, ".[") {
				continue
			}
			if n, ok := u.ExpressionAttributeNames[p]; ok {
				p = n
			}
			names = append(names, p)
		}
	}
	return names
}

func (s *Server) remove(h http.Header, u update) {
	target := func(op string) http.Header {
		c := h.Clone()
		c.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		return c
	}
	get, _ := json.Marshal(map[string]any{"TableName": u.TableName, "Key": u.Key, "ConsistentRead": true})
	rec := s.forward(target("GetItem"), get)
	var got struct {
		Item map[string]json.RawMessage `json:"Item"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.Item == nil {
		return
	}
	changed := false
	for _, n := range removedNames(u) {
		if _, ok := got.Item[n]; ok {
			delete(got.Item, n)
			changed = true
		}
	}
	if !changed {
		return
	}
	put, _ := json.Marshal(map[string]any{"TableName": u.TableName, "Item": got.Item})
	if s.forward(target("PutItem"), put).Code == http.StatusOK {
		s.mended++
	}
}
