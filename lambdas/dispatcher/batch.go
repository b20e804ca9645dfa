package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// dispatchFunc handles one queue message; an error means "deliver it again".
type dispatchFunc func(ctx context.Context, m flotilla.Message) error

// dispatchBatch hands each record of a FIFO batch to dispatch, in order,
// and reports the records to deliver again. A FIFO queue must keep each
// group's order, and the batch may interleave groups, so after the first
// failure nothing more is tried: that record and every later one are
// reported. A run that waits for capacity is not a failure (dispatch
// returns nil). A body that is not a Message fails too, so the queue's
// redrive policy moves it to the dead-letter queue where it can be seen.
func dispatchBatch(ctx context.Context, log *slog.Logger, ev events.SQSEvent, dispatch dispatchFunc) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for i, rec := range ev.Records {
		err := ctx.Err() // out of time: hand the rest back rather than time out mid-batch
		if err == nil {
			err = dispatchRecord(ctx, rec, dispatch)
		}
		if err != nil {
			log.ErrorContext(ctx, "dispatch failed; the message and the rest of the batch will be delivered again",
				"message_id", rec.MessageId, "returned", len(ev.Records)-i, "err", err)
			for _, later := range ev.Records[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: later.MessageId})
			}
			return resp
		}
	}
	return resp
}

func dispatchRecord(ctx context.Context, rec events.SQSMessage, dispatch dispatchFunc) error {
	var m flotilla.Message
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil || m.RunID == "" || m.Cluster == "" {
		return fmt.Errorf("message %s: body is not a flotilla message: %w (%v)", rec.MessageId, flotilla.ErrInvalid, err)
	}
	return dispatch(ctx, m)
}
