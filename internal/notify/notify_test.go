package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-run/flotilla/internal/embedded"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
	"github.com/flotilla-run/flotilla/internal/notify"
)

type mailer struct {
	mu   sync.Mutex
	sent []string
}

func (m *mailer) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to+"|"+subject+"|"+body)
	return nil
}

// A run's end goes to each target: a webhook that fails once and then
// takes it (signed, same delivery id both times), one that refuses it (no
// retry on a 4xx), one that never answers well (three attempts), and an
// address. Every outcome is in the run's life story.
func TestDeliver(t *testing.T) {
	store := newStore(t)
	key := []byte("s3cret")

	var mu sync.Mutex
	calls := map[string]int{}
	deliveries := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls[r.URL.Path]++
		deliveries[r.Header.Get(notify.HeaderDelivery)] = true
		switch r.URL.Path {
		case "/flaky":
			ts, _ := strconv.ParseInt(r.Header.Get(notify.HeaderTimestamp), 10, 64)
			if r.Header.Get(notify.HeaderSignature) != notify.Sign(key, ts, body) || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("bad signature or type: %v", r.Header)
			}
			var c flotilla.RunChange
			if err := json.Unmarshal(body, &c); err != nil || c.Status != flotilla.StatusFailed || c.ExitCode == nil || *c.ExitCode != 3 {
				t.Errorf("body %s: %v", body, err)
			}
			if calls["/flaky"] == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)

	r := flotillatest.NewRun("default", "alice", 0)
	r.Alias = "nightly"
	r.Notify = []flotilla.NotifyTarget{
		{Webhook: srv.URL + "/flaky?token=abc", Secret: "ssm:/flotilla/test/hook"},
		{Webhook: srv.URL + "/gone"},
		{Webhook: srv.URL + "/down"},
		{Email: "ann@example.com"},
	}
	code := 3
	r.Status, r.ExitCode, r.StatusReason = flotilla.StatusFailed, &code, "exit code 3"
	if _, _, err := store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	d := &notify.Deliverer{Store: store, Mailer: m, Backoff: []time.Duration{time.Millisecond, time.Millisecond},
		SigningKey: func(_ context.Context, ref string) ([]byte, error) {
			if ref != "ssm:/flotilla/test/hook" {
				t.Errorf("key asked for %s", ref)
			}
			return key, nil
		}}
	if err := d.Deliver(context.Background(), flotilla.NewRunChange(r, time.Now(), "https://ui.example")); err != nil {
		t.Fatal(err)
	}
	if calls["/flaky"] != 2 || calls["/gone"] != 1 || calls["/down"] != 3 || len(deliveries) != 1 {
		t.Errorf("calls %v, %d delivery ids; want flaky 2, gone 1, down 3, one id", calls, len(deliveries))
	}
	if len(m.sent) != 1 || !strings.Contains(m.sent[0], "ann@example.com|[Flotilla] nightly FAILED|") || !strings.Contains(m.sent[0], "exit code 3") {
		t.Errorf("mail %v", m.sent)
	}
	evs, err := store.ListRunEvents(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range evs {
		if e.Source == flotilla.SourceNotifier {
			notes = append(notes, e.Reason)
		}
	}
	want := []string{
		"notified " + srv.URL + "/flaky (HTTP 204, attempt 2)",
		"notification to " + srv.URL + "/gone failed: HTTP 404 after 1 attempts",
		"notification to " + srv.URL + "/down failed: HTTP 500 after 3 attempts",
		"e-mailed ann@example.com",
	}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Errorf("life story notes:\n%s\nwant:\n%s", strings.Join(notes, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range notes {
		if strings.Contains(n, "token=abc") {
			t.Errorf("a note shows the webhook's query: %s", n)
		}
	}
}

// A delivery run again for the same end (the notifier retried after it died
// midway) tells only the targets not yet told.
func TestDeliverAgainSkipsWhoWasTold(t *testing.T) {
	store := newStore(t)
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r := flotillatest.NewRun("default", "alice", 0)
	r.Notify = []flotilla.NotifyTarget{{Webhook: srv.URL + "/a"}, {Email: "ann@example.com"}}
	r.Status = flotilla.StatusSucceeded
	if _, _, err := store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	d := &notify.Deliverer{Store: store, Mailer: m}
	c := flotilla.NewRunChange(r, time.Now(), "")
	for range 2 {
		if err := d.Deliver(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 || len(m.sent) != 1 {
		t.Errorf("told the webhook %d times and mailed %d times, want once each", calls, len(m.sent))
	}
}

// A webhook that redirects is not followed: the 3xx is its answer, recorded
// as a failure, and the place it points to is never called.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	store := newStore(t)
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere++ }))
	t.Cleanup(other.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(hook.Close)
	r := flotillatest.NewRun("default", "alice", 0)
	r.Notify = []flotilla.NotifyTarget{{Webhook: hook.URL + "/h"}}
	r.Status = flotilla.StatusFailed
	if _, _, err := store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	d := &notify.Deliverer{Store: store, Backoff: []time.Duration{}}
	if err := d.Deliver(context.Background(), flotilla.NewRunChange(r, time.Now(), "")); err != nil {
		t.Fatal(err)
	}
	evs, _ := store.ListRunEvents(context.Background(), r.ID)
	last := evs[len(evs)-1]
	if elsewhere != 0 || !strings.Contains(last.Reason, "failed: HTTP 307") {
		t.Errorf("the redirect's target was called %d times; note %q", elsewhere, last.Reason)
	}
}

// What is told comes from the store: an event about a run that has not
// ended, or saying another status or attempt than its stored end (anyone
// who may put events on the bus could write one), tells nobody; an event
// matching the stored end is told with the stored run's content.
func TestDeliverTellsOnlyTheStoredEnd(t *testing.T) {
	store := newStore(t)
	var mu sync.Mutex
	var bodies []flotilla.RunChange
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c flotilla.RunChange
		json.NewDecoder(r.Body).Decode(&c)
		mu.Lock()
		bodies = append(bodies, c)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r := flotillatest.NewRun("default", "alice", 0)
	r.Notify = []flotilla.NotifyTarget{{Webhook: srv.URL + "/h"}}
	r.Status, r.StatusReason = flotilla.StatusFailed, "exit code 2"
	if _, _, err := store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	d := &notify.Deliverer{Store: store, UIURL: "https://ui.example"}
	forged := flotilla.NewRunChange(r, time.Now(), "https://evil.example")
	forged.Status, forged.StatusReason = flotilla.StatusSucceeded, "FORGED"
	other := flotilla.NewRunChange(r, time.Now(), "")
	other.Attempt = 99
	for _, c := range []flotilla.RunChange{forged, other} {
		if err := d.Deliver(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if len(bodies) != 0 {
		t.Fatalf("forged events were told: %+v", bodies)
	}
	lie := flotilla.NewRunChange(r, time.Now(), "https://evil.example")
	lie.StatusReason = "FORGED"
	if err := d.Deliver(context.Background(), lie); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 || bodies[0].StatusReason != "exit code 2" || bodies[0].Links["run"] != "https://ui.example/runs/"+r.ID {
		t.Errorf("told %+v, want the stored run's end and link", bodies)
	}
}

// newStore is an embedded store in a temporary folder.
func newStore(t *testing.T) *embedded.Store {
	t.Helper()
	db, err := embedded.OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return embedded.NewStore(db)
}
