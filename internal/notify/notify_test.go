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
	db, err := embedded.OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := embedded.NewStore(db)
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
	if _, _, err := store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	code := 3
	r.Status, r.ExitCode, r.StatusReason = flotilla.StatusFailed, &code, "exit code 3"
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
	db, err := embedded.OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := embedded.NewStore(db)
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
	if _, _, err := store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	r.Status = flotilla.StatusSucceeded
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
	db, err := embedded.OpenDB(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := embedded.NewStore(db)
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere++ }))
	t.Cleanup(other.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(hook.Close)
	r := flotillatest.NewRun("default", "alice", 0)
	r.Notify = []flotilla.NotifyTarget{{Webhook: hook.URL + "/h"}}
	if _, _, err := store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	r.Status = flotilla.StatusFailed
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
