package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/flotilla-run/flotilla/internal/awsevents"
	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// payload reads a real EventBridge event recorded for the decoder's tests.
func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "awsevents", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleEvent(t *testing.T) {
	t.Parallel()
	errStore := errors.New("store unavailable")
	tests := []struct {
		name       string
		event      []byte
		reconcile  error
		wantErr    bool
		reconciled bool
	}{
		{name: "task stopped with exit 2", event: payload(t, "stopped-exit2.json"), reconciled: true},
		{name: "running", event: payload(t, "running.json"), reconciled: true},
		{name: "not Flotilla's task: ignored", event: payload(t, "not-ours.json")},
		{name: "another detail-type: ignored", event: []byte(`{"source":"aws.ecs","detail-type":"ECS Container Instance State Change","detail":{}}`)},
		{name: "malformed: dropped, not retried", event: []byte(`{"source":`)},
		{name: "reconcile fails: retried", event: payload(t, "stopped-exit0.json"), reconcile: errStore, wantErr: true, reconciled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got *flotilla.TaskEvent
			err := handleEvent(context.Background(), slog.New(slog.DiscardHandler), tt.event, awsevents.Decoder{}.Decode,
				func(_ context.Context, ev flotilla.TaskEvent) error { got = &ev; return tt.reconcile })
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, errStore) {
				t.Errorf("err = %v, want it to wrap %v", err, errStore)
			}
			if (got != nil) != tt.reconciled {
				t.Fatalf("reconciled %v, want %v", got != nil, tt.reconciled)
			}
			if got != nil && (got.RunID == "" || got.TaskID == "") {
				t.Errorf("reconciled %+v without its run or task", *got)
			}
		})
	}
}
