// Package awsbus publishes run status changes to Amazon EventBridge, where
// a rule on the bus routes them to whatever a team uses (chat, e-mail,
// a pipeline): detail-type "Flotilla Run State Change", source "flotilla".
package awsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// API is the part of *eventbridge.Client the adapter uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ API = (*eventbridge.Client)(nil)

// maxEntries is PutEvents' limit of entries per call (EventBridge API
// Reference, PutEvents: "Entries … Maximum number of 10 items").
const maxEntries = 10

// Publisher puts run changes on one event bus.
type Publisher struct {
	api API
	bus string
}

// New returns a publisher on bus ("" is the account's default bus).
func New(api API, bus string) *Publisher {
	return &Publisher{api: api, bus: bus}
}

// FromConfig builds the EventBridge client on cfg (at endpoint when not
// empty) and the publisher on it.
func FromConfig(cfg aws.Config, endpoint, bus string) *Publisher {
	return New(eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), bus)
}

// PublishRunChanges implements flotilla.RunChangePublisher. Entries
// EventBridge refuses (FailedEntryCount: PutEvents answers 200 and marks
// each failed entry with an ErrorCode, EventBridge API Reference) are
// sent once more, then reported.
func (p *Publisher) PublishRunChanges(ctx context.Context, changes []flotilla.RunChange) error {
	var entries []types.PutEventsRequestEntry
	for _, c := range changes {
		detail, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("publish run %s: %w", c.RunID, err)
		}
		e := types.PutEventsRequestEntry{
			Source: aws.String(flotilla.RunChangeSource), DetailType: aws.String(flotilla.RunChangeDetailType),
			Detail: aws.String(string(detail)), Time: aws.Time(c.Time),
		}
		if p.bus != "" {
			e.EventBusName = aws.String(p.bus)
		}
		entries = append(entries, e)
	}
	for len(entries) > 0 {
		n := min(len(entries), maxEntries)
		batch := entries[:n]
		entries = entries[n:]
		for try := 0; ; try++ {
			out, err := p.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
			if err != nil {
				return fmt.Errorf("publish %d run changes: %w", len(batch), err)
			}
			if out.FailedEntryCount == 0 {
				break
			}
			var failed []types.PutEventsRequestEntry
			var why []string
			for i, r := range out.Entries {
				if r.ErrorCode != nil && i < len(batch) {
					failed = append(failed, batch[i])
					why = append(why, aws.ToString(r.ErrorCode)+": "+aws.ToString(r.ErrorMessage))
				}
			}
			if try == 1 || len(failed) == 0 {
				return fmt.Errorf("publish run changes: %d refused: %s", out.FailedEntryCount, strings.Join(why, "; "))
			}
			batch = failed
		}
	}
	return nil
}
