// Package notify tells a run's notify targets that it ended: a webhook gets
// a POST of the run's RunChange (signed with HMAC-SHA256 when the target
// names a key), an address an e-mail. Each outcome, delivered or failed, is
// written into the run's life story. It runs after the run's end is stored
// and never changes the run.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Headers of a webhook delivery. The signature is over "<timestamp>.<body>"
// so a receiver can refuse a replayed delivery by its age.
const (
	HeaderEvent     = "X-Flotilla-Event"     // "run-state-change"
	HeaderDelivery  = "X-Flotilla-Delivery"  // <run_id>#<attempt>#<status>: the same on every retry
	HeaderTimestamp = "X-Flotilla-Timestamp" // Unix seconds
	HeaderSignature = "X-Flotilla-Signature" // sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">
)

// Sign is the signature of body sent at ts with key, as HeaderSignature
// carries it.
func Sign(key []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Mailer sends one e-mail.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Deliverer delivers a run change to the run's targets.
type Deliverer struct {
	// Store has the run's targets and takes the life-story entries.
	Store flotilla.Store
	// HTTP sends webhooks (default: a client with a 10 s timeout).
	HTTP *http.Client
	// SigningKey resolves a target's secret reference to its key.
	SigningKey func(ctx context.Context, ref string) ([]byte, error)
	// Mailer sends e-mail; nil records e-mail targets as not sent, with
	// NoMail as the reason.
	Mailer Mailer
	NoMail string
	// Backoff are the waits between a webhook's attempts (default 1 s and
	// 4 s: three attempts).
	Backoff []time.Duration
	Now     func() time.Time
	Log     *slog.Logger
	// UIURL is the web UI's address, for the run's link in what is sent.
	UIURL string
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Deliver tells every target of the change's run, one after the other,
// and records each outcome. A target the life story already records as
// told (a delivery retried after the function died midway) is not told
// again. It returns an error only when the run cannot be read (a failed
// target is an outcome, recorded, not an error).
func (d *Deliverer) Deliver(ctx context.Context, c flotilla.RunChange) error {
	r, err := d.Store.GetRun(ctx, c.RunID)
	if err != nil {
		return fmt.Errorf("notify run %s: %w", c.RunID, err)
	}
	// What is told comes from the store, not from the event: anyone who
	// may put events on the bus could write one. An event that is not the
	// stored run's end (another status or attempt, a run still going) is
	// dropped.
	if !r.Status.Terminal() || r.Status != c.Status || r.Attempt != c.Attempt {
		d.log().Warn("run change that is not the run's stored end dropped", "run_id", r.ID,
			"event_status", c.Status, "event_attempt", c.Attempt, "status", r.Status, "attempt", r.Attempt)
		return nil
	}
	at := c.Time
	if r.FinishedAt != nil {
		at = *r.FinishedAt
	}
	c = flotilla.NewRunChange(r, at, d.UIURL)
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("notify run %s: %w", c.RunID, err)
	}
	told := map[string]bool{}
	if evs, err := d.Store.ListRunEvents(ctx, c.RunID); err == nil {
		for _, e := range evs {
			if e.Source == flotilla.SourceNotifier && e.Attempt == c.Attempt && e.To == c.Status {
				told[e.Reason] = true
			}
		}
	}
	for _, t := range r.Notify {
		if (t.Email != "" && told["e-mailed "+t.Email]) || toldWebhook(told, t) {
			continue
		}
		var note string
		if t.Webhook != "" {
			note = d.webhook(ctx, c, t, body)
		} else {
			note = d.mail(ctx, c, t)
		}
		ev := flotilla.RunEvent{RunID: r.ID, Time: d.now().UTC(), Source: flotilla.SourceNotifier, From: c.Status, To: c.Status,
			Reason: note, Attempt: c.Attempt}
		// Recorded even when the invocation's time is up: what was sent
		// must be in the life story, or a retry would send it again.
		rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := d.Store.AppendRunEvent(rec, ev)
		cancel()
		if err != nil {
			d.log().Warn("notification outcome not recorded", "run_id", r.ID, "note", note, "err", err)
		}
	}
	return nil
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// webhook POSTs body, retrying a network error, a 429 or a 5xx answer.
func (d *Deliverer) webhook(ctx context.Context, c flotilla.RunChange, t flotilla.NotifyTarget, body []byte) string {
	var key []byte
	if t.Secret != "" {
		k, err := d.SigningKey(ctx, t.Secret)
		if err != nil {
			return fmt.Sprintf("notification to %s not sent: its signing key %s could not be read: %v", t, t.Secret, err)
		}
		key = k
	}
	client := d.HTTP
	if client == nil {
		// Redirects are not followed: a webhook answers where it was
		// asked, and a redirect could point the POST (and its signature)
		// somewhere the target's owner did not choose. A 3xx is a failure.
		client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	backoff := d.Backoff
	if backoff == nil {
		backoff = []time.Duration{time.Second, 4 * time.Second}
	}
	var last string
	for attempt := 1; ; attempt++ {
		status, err := d.post(ctx, client, c, t.Webhook, key, body)
		switch {
		case err == nil && status < 300:
			return fmt.Sprintf("notified %s (HTTP %d, attempt %d)", t, status, attempt)
		case err != nil:
			last = err.Error()
		default:
			last = "HTTP " + strconv.Itoa(status)
		}
		retry := err != nil || status == http.StatusTooManyRequests || status >= 500
		// Another attempt only while the invocation has time for it (a
		// webhook may take its whole 10 s), so the outcome gets recorded.
		if dl, ok := ctx.Deadline(); ok && retry && attempt <= len(backoff) && time.Until(dl) < backoff[attempt-1]+15*time.Second {
			return fmt.Sprintf("notification to %s failed: %s after %d attempts (no time left for another)", t, last, attempt)
		}
		if !retry || attempt > len(backoff) {
			return fmt.Sprintf("notification to %s failed: %s after %d attempts", t, last, attempt)
		}
		select {
		case <-time.After(backoff[attempt-1]):
		case <-ctx.Done():
			return fmt.Sprintf("notification to %s failed: %s after %d attempts (%v)", t, last, attempt, ctx.Err())
		}
	}
}

func (d *Deliverer) post(ctx context.Context, client *http.Client, c flotilla.RunChange, url string, key, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := d.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Flotilla-Notifier")
	req.Header.Set(HeaderEvent, "run-state-change")
	req.Header.Set(HeaderDelivery, c.RunID+"#"+strconv.Itoa(c.Attempt)+"#"+string(c.Status))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if key != nil {
		req.Header.Set(HeaderSignature, Sign(key, ts, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // drop the method and the URL: its query may hold a token
		}
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (d *Deliverer) mail(ctx context.Context, c flotilla.RunChange, t flotilla.NotifyTarget) string {
	if d.Mailer == nil {
		return fmt.Sprintf("e-mail to %s not sent: %s", t.Email, d.NoMail)
	}
	subject := fmt.Sprintf("[Flotilla] %s %s", c.Alias, c.Status)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Run %s of %s ended %s: %s.\n", c.RunID, c.Alias, c.Status, c.StatusReason)
	if c.ExitCode != nil {
		fmt.Fprintf(&b, "Exit code: %d\n", *c.ExitCode)
	}
	if c.CostUSD != nil {
		fmt.Fprintf(&b, "Cost: $%.4f\n", *c.CostUSD)
	}
	fmt.Fprintf(&b, "Attempt %d of %d, cluster %s, launched by %s.\n", c.Attempt, c.MaxAttempts, c.Cluster, firstNonEmpty(c.OwnerName, c.Owner))
	if u := c.Links["run"]; u != "" {
		fmt.Fprintf(&b, "\n%s\n", u)
	}
	if err := d.Mailer.Send(ctx, t.Email, subject, b.String()); err != nil {
		return fmt.Sprintf("e-mail to %s failed: %v", t.Email, err)
	}
	return "e-mailed " + t.Email
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Async publishes by delivering in the background: the run change that
// ends a run with notify targets starts a delivery and returns at once.
// Close waits for the deliveries under way.
type Async struct {
	D  *Deliverer
	wg sync.WaitGroup
}

// PublishRunChanges implements flotilla.RunChangePublisher.
func (a *Async) PublishRunChanges(_ context.Context, changes []flotilla.RunChange) error {
	for _, c := range changes {
		if !c.Terminal || c.Notify == 0 {
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.D.Deliver(context.Background(), c); err != nil {
				a.D.log().Warn("notifications not delivered", "run_id", c.RunID, "err", err)
			}
		}()
	}
	return nil
}

// Close waits for the deliveries under way, at most until ctx ends.
func (a *Async) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// toldWebhook reports whether a note says t was notified (any attempt).
func toldWebhook(told map[string]bool, t flotilla.NotifyTarget) bool {
	if t.Webhook == "" {
		return false
	}
	for note := range told {
		if strings.HasPrefix(note, "notified "+t.String()+" (") {
			return true
		}
	}
	return false
}
