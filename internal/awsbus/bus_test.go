package awsbus_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/flotilla-run/flotilla/internal/awsbus"
	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awsfake"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

func client(t *testing.T, f *awsfake.EventBridge) *eventbridge.Client {
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	url := awsfake.Serve(t, f)
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(url) })
}

// Changes go out as "Flotilla Run State Change" events from source
// "flotilla", their detail the documented RunChange, ten to a PutEvents;
// an entry EventBridge refuses is sent once more.
func TestPublishRunChanges(t *testing.T) {
	f := awsfake.NewEventBridge()
	var refusals atomic.Int32
	f.Refuse = func(e awsfake.EventBridgeEntry) bool {
		return strings.Contains(e.Detail, `"run_id":"run_7"`) && refusals.Add(1) == 1
	}
	p := awsbus.New(client(t, f), "")
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var changes []flotilla.RunChange
	for i := range 23 {
		r := flotilla.Run{ID: "run_" + string(rune('0'+i%10)), Alias: "etl", Status: flotilla.StatusSucceeded, Attempt: 1}
		if i >= 10 {
			r.ID = "run_x" + string(rune('a'+i))
		}
		changes = append(changes, flotilla.NewRunChange(r, at, "https://ui.example"))
	}
	if err := p.PublishRunChanges(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	got := f.Entries()
	if len(got) != 23 || refusals.Load() != 2 {
		t.Fatalf("%d entries accepted (refusals %d), want 23 with run_7 refused once", len(got), refusals.Load())
	}
	e := got[0]
	var detail map[string]any
	if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil {
		t.Fatal(err)
	}
	if e.Source != "flotilla" || e.DetailType != "Flotilla Run State Change" || detail["status"] != "SUCCEEDED" ||
		detail["terminal"] != true || detail["links"].(map[string]any)["run"] != "https://ui.example/runs/run_0" {
		t.Errorf("entry %+v detail %v", e, detail)
	}

	// Refused twice: reported, named.
	f.Refuse = func(awsfake.EventBridgeEntry) bool { return true }
	err := p.PublishRunChanges(context.Background(), changes[:1])
	if err == nil || !strings.Contains(err.Error(), "InternalFailure") {
		t.Errorf("an entry refused twice: %v", err)
	}
}
