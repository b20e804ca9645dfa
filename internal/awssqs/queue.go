package awssqs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// API is the part of the SQS client a Queue uses; *sqs.Client has it.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Config configures a Queue.
type Config struct {
	// QueueURLs maps each cluster to the URL of its FIFO queue (the name
	// ends in ".fifo"). Required.
	QueueURLs map[string]string
	// Logger reports messages whose body is not a Message. Default: discard.
	Logger *slog.Logger
}

// SQS limits (FIFO).
const (
	maxBatch    = 10 // entries per SendMessageBatch, messages per ReceiveMessage
	maxWaitSecs = 20 // ReceiveMessage WaitTimeSeconds
	noOwner     = "_none"
)

// Queue is the flotilla.Queue on SQS FIFO queues, one per cluster. It is
// safe for concurrent use.
type Queue struct {
	api  API
	urls map[string]string
	log  *slog.Logger
}

var _ flotilla.Queue = (*Queue)(nil)

// New returns a Queue over api. It fails with flotilla.ErrInvalid when
// QueueURLs is empty or names a queue that is not FIFO.
func New(api API, cfg Config) (*Queue, error) {
	if len(cfg.QueueURLs) == 0 {
		return nil, fmt.Errorf("awssqs: no queue URLs configured: %w", flotilla.ErrInvalid)
	}
	urls := make(map[string]string, len(cfg.QueueURLs))
	for cluster, u := range cfg.QueueURLs {
		if cluster == "" || !strings.HasSuffix(u, ".fifo") {
			return nil, fmt.Errorf("awssqs: cluster %q: queue URL %q is not a FIFO queue's: %w", cluster, u, flotilla.ErrInvalid)
		}
		urls[cluster] = u
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{api: api, urls: urls, log: log}, nil
}

func (q *Queue) url(cluster string) (string, error) {
	u, ok := q.urls[cluster]
	if !ok {
		return "", fmt.Errorf("cluster %q has no SQS queue configured: %w", cluster, flotilla.ErrInvalid)
	}
	return u, nil
}

// Send enqueues msgs on their clusters' queues, in order. It checks every
// message (a run id, a known cluster) before sending any. A message SQS did
// not enqueue makes Send return a *SendError naming it; the others are
// enqueued.
func (q *Queue) Send(ctx context.Context, msgs ...flotilla.Message) error {
	byURL := map[string][]flotilla.Message{}
	var order []string // queue URLs in first-seen order, for stable errors
	for _, m := range msgs {
		if m.RunID == "" {
			return fmt.Errorf("awssqs: send: message of cluster %q has no run id: %w", m.Cluster, flotilla.ErrInvalid)
		}
		u, err := q.url(m.Cluster)
		if err != nil {
			return fmt.Errorf("awssqs: send run %s: %w", m.RunID, err)
		}
		if _, seen := byURL[u]; !seen {
			order = append(order, u)
		}
		byURL[u] = append(byURL[u], m)
	}

	serr := &SendError{Total: len(msgs)}
	for _, u := range order {
		pending := byURL[u]
		for len(pending) > 0 {
			n := min(len(pending), maxBatch)
			chunk := pending[:n]
			pending = pending[n:]
			if err := ctx.Err(); err != nil {
				serr.addAll(chunk, err)
				continue
			}
			if err := q.sendBatch(ctx, u, chunk, serr); err != nil {
				// Later messages of this queue stay unsent so that none
				// overtakes an earlier one of its group.
				serr.addAll(chunk, err)
				serr.addAll(pending, err)
				break
			}
		}
	}
	if len(serr.Failed) > 0 {
		return serr
	}
	return nil
}

// sendBatch sends up to ten messages to one queue, recording in serr the
// entries SQS rejected or did not answer for. It returns the request's own
// error.
func (q *Queue) sendBatch(ctx context.Context, url string, chunk []flotilla.Message, serr *SendError) error {
	entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
	for i, m := range chunk {
		m.DedupID = DedupID(m)
		body, err := json.Marshal(m)
		if err != nil {
			return err
		}
		entries[i] = types.SendMessageBatchRequestEntry{
			Id:                     aws.String(strconv.Itoa(i)),
			MessageBody:            aws.String(string(body)),
			MessageGroupId:         aws.String(GroupID(m.Owner)),
			MessageDeduplicationId: aws.String(sqsID(m.DedupID)),
		}
	}
	out, err := q.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		return translate(err)
	}
	answered := make([]bool, len(chunk))
	entry := func(id *string) (int, bool) {
		i, err := strconv.Atoi(aws.ToString(id))
		if err != nil || i < 0 || i >= len(chunk) || answered[i] {
			return 0, false
		}
		answered[i] = true
		return i, true
	}
	for _, s := range out.Successful {
		entry(s.Id)
	}
	for _, f := range out.Failed {
		if i, ok := entry(f.Id); ok {
			serr.Failed = append(serr.Failed, SendFailure{Message: chunk[i], Code: aws.ToString(f.Code), Reason: aws.ToString(f.Message)})
		}
	}
	for i, ok := range answered {
		if !ok {
			serr.Failed = append(serr.Failed, SendFailure{Message: chunk[i], Reason: "SQS did not report the entry as sent or failed"})
		}
	}
	return nil
}

// Receive long-polls the cluster's queue for up to n messages (1 to 10) for up to wait, rounded up to whole seconds (at most 20 s; 0 returns
// at once).
func (q *Queue) Receive(ctx context.Context, cluster string, n int, wait time.Duration) ([]flotilla.Delivery, error) {
	u, err := q.url(cluster)
	if err != nil {
		return nil, fmt.Errorf("awssqs: receive: %w", err)
	}
	waitSecs := int32(min(math.Ceil(max(wait, 0).Seconds()), maxWaitSecs))
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(u),
		MaxNumberOfMessages:         int32(min(max(n, 1), maxBatch)),
		WaitTimeSeconds:             waitSecs,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		// The SDK's retries reuse this id, so a receive whose answer was
		// lost returns the same messages instead of hiding them.
		ReceiveRequestAttemptId: aws.String(rand.Text()),
	})
	if err != nil {
		return nil, fmt.Errorf("awssqs: receive on cluster %s: %w", cluster, translate(err))
	}
	deliveries := make([]flotilla.Delivery, 0, len(out.Messages))
	for _, sm := range out.Messages {
		var m flotilla.Message
		if err := json.Unmarshal([]byte(aws.ToString(sm.Body)), &m); err != nil || m.RunID == "" {
			// Left in flight: the redrive policy moves it to the DLQ.
			q.log.LogAttrs(ctx, slog.LevelError, "awssqs: message body is not a flotilla message; leaving it for the dead-letter queue",
				slog.String("cluster", cluster), slog.String("message_id", aws.ToString(sm.MessageId)), slog.Any("error", err))
			continue
		}
		m.Cluster = cluster
		count, _ := strconv.Atoi(sm.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		deliveries = append(deliveries, flotilla.Delivery{Message: m, Receipt: aws.ToString(sm.ReceiptHandle), ReceiveCount: count})
	}
	return deliveries, nil
}

// Delete removes a received message from the cluster's queue. An invalid
// or unknown receipt is flotilla.ErrNotFound.
func (q *Queue) Delete(ctx context.Context, cluster, receipt string) error {
	u, err := q.url(cluster)
	if err != nil {
		return fmt.Errorf("awssqs: delete: %w", err)
	}
	if _, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: aws.String(receipt)}); err != nil {
		return fmt.Errorf("awssqs: delete on cluster %s: %w", cluster, translate(err))
	}
	return nil
}

// translate maps the SQS errors the domain has a name for onto its
// sentinels, keeping the SQS error in the chain.
func translate(err error) error {
	var (
		noQueue   *types.QueueDoesNotExist
		badHandle *types.ReceiptHandleIsInvalid
		apiErr    smithy.APIError
	)
	switch {
	case errors.As(err, &noQueue), errors.As(err, &badHandle):
		return fmt.Errorf("%w: %w", flotilla.ErrNotFound, err)
	case errors.As(err, &apiErr) && isThrottle(apiErr.ErrorCode()):
		return fmt.Errorf("%w: %w", flotilla.ErrThrottled, err)
	}
	return err
}

func isThrottle(code string) bool {
	switch code {
	case "ThrottlingException", "RequestThrottled", "Throttling", "KmsThrottled":
		return true
	}
	return false
}

// SendError lists the messages a Send did not enqueue; the rest were.
// Re-sending all of them is safe: within the deduplication window the
// enqueued ones are not delivered twice.
type SendError struct {
	Total  int // messages given to Send
	Failed []SendFailure
}

// SendFailure is one message a Send did not enqueue.
type SendFailure struct {
	Message flotilla.Message
	// Code and Reason are SQS's for a rejected entry; Err is the failed
	// request's error when the whole request failed or was not made.
	Code   string
	Reason string
	Err    error
}

func (e *SendError) addAll(msgs []flotilla.Message, err error) {
	for _, m := range msgs {
		e.Failed = append(e.Failed, SendFailure{Message: m, Err: err})
	}
}

// RunIDs returns the ids of the runs whose messages were not enqueued.
func (e *SendError) RunIDs() []string {
	ids := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		ids[i] = f.Message.RunID
	}
	return ids
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "awssqs: send: %d of %d messages not enqueued:", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " run %s attempt %d (cluster %s): ", f.Message.RunID, f.Message.Attempt, f.Message.Cluster)
		switch {
		case f.Err != nil:
			b.WriteString(f.Err.Error())
		case f.Code != "":
			fmt.Fprintf(&b, "%s: %s", f.Code, f.Reason)
		default:
			b.WriteString(f.Reason)
		}
	}
	return b.String()
}

// Unwrap returns the distinct request errors, so errors.Is finds, say,
// context.Canceled or flotilla.ErrThrottled.
func (e *SendError) Unwrap() []error {
	var errs []error
	for _, f := range e.Failed {
		if f.Err != nil && (len(errs) == 0 || errs[len(errs)-1] != f.Err) {
			errs = append(errs, f.Err)
		}
	}
	return errs
}
