package awsfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// EventBridge is a fake of EventBridge's PutEvents (JSON 1.1,
// AWSEvents.PutEvents) that keeps what it is sent. It checks what the
// EventBridge API Reference says PutEvents refuses as a whole (no entries,
// more than 10) and, per entry, marks a missing Source, DetailType or
// Detail, or a Detail that is not a JSON object, as a failed entry
// (FailedEntryCount, with ErrorCode), as EventBridge does. Only our fake
// shows this; it does not route events.
type EventBridge struct {
	mu      sync.Mutex
	entries []EventBridgeEntry
	// Refuse, when set, fails the entries it returns true for
	// (ErrorCode "InternalFailure").
	Refuse func(EventBridgeEntry) bool
}

// EventBridgeEntry is one PutEvents entry as sent.
type EventBridgeEntry struct {
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
	EventBusName string `json:"EventBusName"`
	Time         any    `json:"Time"`
}

// NewEventBridge returns an empty fake.
func NewEventBridge() *EventBridge { return &EventBridge{} }

// Entries returns the entries accepted so far.
func (f *EventBridge) Entries() []EventBridgeEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]EventBridgeEntry(nil), f.entries...)
}

// ServeHTTP implements http.Handler.
func (f *EventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		fail(http.StatusBadRequest, "UnknownOperationException", "the fake answers PutEvents only")
		return
	}
	var in struct{ Entries []EventBridgeEntry }
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		fail(http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		fail(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10")
		return
	}
	var results []map[string]string
	failed := 0
	f.mu.Lock()
	for _, e := range in.Entries {
		var obj map[string]any
		switch {
		case e.Source == "" || e.DetailType == "" || e.Detail == "":
			failed++
			results = append(results, map[string]string{"ErrorCode": "MalformedDetail", "ErrorMessage": "Source, DetailType and Detail are required"})
		case json.Unmarshal([]byte(e.Detail), &obj) != nil:
			failed++
			results = append(results, map[string]string{"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."})
		case f.Refuse != nil && f.Refuse(e):
			failed++
			results = append(results, map[string]string{"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Failure"})
		default:
			f.entries = append(f.entries, e)
			results = append(results, map[string]string{"EventId": "ev-" + itoa(len(f.entries))})
		}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"FailedEntryCount": failed, "Entries": results})
}

func itoa(n int) string { return strconv.Itoa(n) }
