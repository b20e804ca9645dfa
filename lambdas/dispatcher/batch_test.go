package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

func record(id, body string) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: body}
}

func msg(run string) string {
	return fmt.Sprintf(`{"cluster":"default","run_id":%q,"attempt":1,"owner":"ann","dedup_id":"%s#1"}`, run, run)
}

func TestDispatchBatchKeepsFIFOOrder(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("store unavailable")
	tests := []struct {
		name    string
		records []events.SQSMessage
		fail    map[string]error // run id → Dispatch's answer
		want    []string         // reported message ids
		tried   []string         // runs handed to Dispatch, in order
	}{
		{name: "all done", records: []events.SQSMessage{record("m1", msg("run_1")), record("m2", msg("run_2"))},
			tried: []string{"run_1", "run_2"}},
		{name: "empty batch"},
		{name: "first fails: all reported, none tried after it",
			records: []events.SQSMessage{record("m1", msg("run_1")), record("m2", msg("run_2")), record("m3", msg("run_3"))},
			fail:    map[string]error{"run_1": errBoom}, want: []string{"m1", "m2", "m3"}, tried: []string{"run_1"}},
		{name: "middle fails: it and every later one",
			records: []events.SQSMessage{record("m1", msg("run_1")), record("m2", msg("run_2")), record("m3", msg("run_3")), record("m4", msg("run_4"))},
			fail:    map[string]error{"run_2": errBoom, "run_4": errBoom}, want: []string{"m2", "m3", "m4"}, tried: []string{"run_1", "run_2"}},
		{name: "last fails",
			records: []events.SQSMessage{record("m1", msg("run_1")), record("m2", msg("run_2"))},
			fail:    map[string]error{"run_2": errBoom}, want: []string{"m2"}, tried: []string{"run_1", "run_2"}},
		{name: "bad body fails like an error, for the dead-letter queue",
			records: []events.SQSMessage{record("m1", msg("run_1")), record("m2", "not json"), record("m3", msg("run_3"))},
			want:    []string{"m2", "m3"}, tried: []string{"run_1"}},
		{name: "body without a run id",
			records: []events.SQSMessage{record("m1", `{"cluster":"default"}`), record("m2", msg("run_2"))},
			want:    []string{"m1", "m2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tried []string
			resp := dispatchBatch(context.Background(), slog.New(slog.DiscardHandler), events.SQSEvent{Records: tt.records},
				func(_ context.Context, m flotilla.Message) error {
					tried = append(tried, m.RunID)
					return tt.fail[m.RunID]
				})
			var got []string
			for _, f := range resp.BatchItemFailures {
				got = append(got, f.ItemIdentifier)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reported %v, want %v", got, tt.want)
			}
			if !slices.Equal(tried, tt.tried) {
				t.Errorf("dispatched %v, want %v", tried, tt.tried)
			}
		})
	}
}

func TestDispatchBatchDecodesTheMessage(t *testing.T) {
	t.Parallel()
	var got flotilla.Message
	dispatchBatch(context.Background(), slog.New(slog.DiscardHandler), events.SQSEvent{Records: []events.SQSMessage{record("m1", msg("run_7"))}},
		func(_ context.Context, m flotilla.Message) error { got = m; return nil })
	want := flotilla.Message{Cluster: "default", RunID: "run_7", Attempt: 1, Owner: "ann", DedupID: "run_7#1"}
	if got != want {
		t.Errorf("dispatched %+v, want %+v", got, want)
	}
}

// Out of time, the rest of the batch goes back instead of timing out.
func TestDispatchBatchHandsBackWhenOutOfTime(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var tried []string
	resp := dispatchBatch(ctx, slog.New(slog.DiscardHandler), events.SQSEvent{Records: []events.SQSMessage{
		record("m1", msg("run_1")), record("m2", msg("run_2")), record("m3", msg("run_3")),
	}}, func(_ context.Context, m flotilla.Message) error {
		tried = append(tried, m.RunID)
		cancel()
		return nil
	})
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if strings.Join(got, ",") != "m2,m3" || strings.Join(tried, ",") != "run_1" {
		t.Errorf("reported %v after dispatching %v, want [m2 m3] after [run_1]", got, tried)
	}
}
