package awssqs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flotilla-run/flotilla/internal/awsclient"
	"github.com/flotilla-run/flotilla/internal/awssqs"
	"github.com/flotilla-run/flotilla/internal/awssqs/sqstest"
	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/flotillatest"
)

func TestMain(m *testing.M) { os.Exit(sqstest.Run(m)) }

func TestQueueConformance(t *testing.T) {
	t.Parallel()
	flotillatest.TestQueue(t, func(t *testing.T) flotilla.Queue {
		return setup(t, 30*time.Second, flotillatest.QueueClusters...).queue
	})
}

// bundle is one test's queues on the shared emulator.
type bundle struct {
	client  *sqs.Client
	counter *awsclient.Counter
	urls    map[string]string // cluster → queue URL
	queue   *awssqs.Queue
}

// setup creates a fresh FIFO queue per cluster, with the given visibility
// timeout, and a Queue over them.
func setup(t *testing.T, visibility time.Duration, clusters ...string) *bundle {
	t.Helper()
	b := &bundle{counter: awsclient.NewCounter(), urls: map[string]string{}}
	cfg, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", StaticCredentials: true, Counter: b.counter})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := sqstest.Shared(t)
	b.client = sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	for _, c := range clusters {
		b.urls[c] = sqstest.CreateFIFOQueue(t, b.client, visibility)
	}
	b.queue = newQueue(t, b.client, b.urls)
	b.counter.Reset()
	return b
}

func newQueue(t *testing.T, api awssqs.API, urls map[string]string) *awssqs.Queue {
	t.Helper()
	q, err := awssqs.New(api, awssqs.Config{QueueURLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func message(cluster, owner, run string) flotilla.Message {
	return flotilla.Message{Cluster: cluster, RunID: run, Attempt: 1, Owner: owner}
}

// drain receives and deletes until want messages arrived or 10 s passed.
func drain(t *testing.T, q flotilla.Queue, cluster string, want int) []flotilla.Delivery {
	t.Helper()
	ctx := context.Background()
	var out []flotilla.Delivery
	for deadline := time.Now().Add(10 * time.Second); len(out) < want && time.Now().Before(deadline); {
		ds, err := q.Receive(ctx, cluster, 10, time.Second)
		if err != nil {
			t.Fatalf("Receive(%s): %v", cluster, err)
		}
		for _, d := range ds {
			if err := q.Delete(ctx, cluster, d.Receipt); err != nil {
				t.Fatalf("Delete(%s): %v", d.RunID, err)
			}
		}
		out = append(out, ds...)
	}
	return out
}

func runIDs(ds []flotilla.Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.RunID
	}
	return ids
}

func TestFIFOOrderWithinOwner(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	ctx := context.Background()
	var want []string
	for i := range 6 {
		id := fmt.Sprintf("run_%d", i)
		want = append(want, id)
		if err := b.queue.Send(ctx, message("c1", "alice", id)); err != nil {
			t.Fatal(err)
		}
	}
	got := drain(t, b.queue, "c1", 6)
	if !slices.Equal(runIDs(got), want) {
		t.Fatalf("received %v, want %v", runIDs(got), want)
	}
	for _, d := range got {
		if d.Cluster != "c1" || d.Owner != "alice" || d.Attempt != 1 || d.ReceiveCount != 1 || d.DedupID != d.RunID+"#1" {
			t.Fatalf("delivery %+v: want cluster c1, owner alice, attempt 1, receive count 1, dedup id run_id#1", d)
		}
	}
}

// A busy owner's group waits behind its in-flight message; other owners'
// groups keep flowing. Owners that differ only in characters SQS rejects
// ("a b", "a_b") must still be different groups.
func TestOwnerBlockedWhileInFlightOthersFlow(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	ctx := context.Background()
	busy := "a b"
	msgs := []flotilla.Message{message("c1", busy, "run_busy_1"), message("c1", busy, "run_busy_2"), message("c1", busy, "run_busy_3")}
	for run, owner := range map[string]string{"run_a": "a_b", "run_c": "carol", "run_u": strings.Repeat("ü", 100)} {
		msgs = append(msgs, message("c1", owner, run))
	}
	if err := b.queue.Send(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	first, err := b.queue.Receive(ctx, "c1", 1, time.Second)
	if err != nil || len(first) != 1 || first[0].RunID != "run_busy_1" {
		t.Fatalf("first Receive = %v, %v; want [run_busy_1]", runIDs(first), err)
	}
	var others []string
	for range 4 {
		ds, err := b.queue.Receive(ctx, "c1", 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			others = append(others, d.RunID)
			if err := b.queue.Delete(ctx, "c1", d.Receipt); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(others)
	if want := []string{"run_a", "run_c", "run_u"}; !slices.Equal(others, want) {
		t.Fatalf("while run_busy_1 was in flight received %v, want %v", others, want)
	}
	if err := b.queue.Delete(ctx, "c1", first[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if got := runIDs(drain(t, b.queue, "c1", 2)); !slices.Equal(got, []string{"run_busy_2", "run_busy_3"}) {
		t.Fatalf("after deleting run_busy_1 received %v", got)
	}
}

func TestDeduplication(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	ctx := context.Background()
	m := message("c1", "alice", "run_dup") // default dedup id run_dup#1
	for range 3 {
		if err := b.queue.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	retry := m
	retry.Attempt = 2 // a new attempt is a new message
	readmit := m
	readmit.DedupID = "run_dup#1 readmit 1" // a space: not an SQS id character
	if err := b.queue.Send(ctx, retry, readmit, readmit); err != nil {
		t.Fatal(err)
	}
	got := drain(t, b.queue, "c1", 3)
	extra, err := b.queue.Receive(ctx, "c1", 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(extra) != 0 {
		t.Fatalf("received %v then %v; want each dedup id once", got, extra)
	}
	if got[0].Attempt != 1 || got[1].Attempt != 2 || got[2].DedupID != readmit.DedupID {
		t.Fatalf("received %+v", got)
	}
	// Deleted messages stay deduplicated within the window.
	if err := b.queue.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if again, err := b.queue.Receive(ctx, "c1", 10, time.Second); err != nil || len(again) != 0 {
		t.Fatalf("re-send after delete delivered %v, %v", runIDs(again), err)
	}
}

func TestBatchSendOf25(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1", "c2")
	ctx := context.Background()
	var msgs []flotilla.Message
	for i := range 25 {
		msgs = append(msgs, message([]string{"c1", "c2"}[i%2], fmt.Sprintf("owner%d", i%3), fmt.Sprintf("run_%02d", i)))
	}
	if err := b.queue.Send(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// c1 has 13 messages, c2 12: two requests each.
	if n := b.counter.Snapshot()["SQS.SendMessageBatch"]; n != 4 {
		t.Fatalf("SendMessageBatch requests = %d, want 4 (%v)", n, b.counter.Snapshot())
	}
	for _, c := range []string{"c1", "c2"} {
		var want int
		for _, m := range msgs {
			if m.Cluster == c {
				want++
			}
		}
		got := drain(t, b.queue, c, want)
		perOwner := map[string][]string{}
		for _, d := range got {
			perOwner[d.Owner] = append(perOwner[d.Owner], d.RunID)
		}
		if len(got) != want {
			t.Fatalf("%s received %d messages, want %d: %v", c, len(got), want, runIDs(got))
		}
		for owner, ids := range perOwner {
			if !slices.IsSorted(ids) {
				t.Fatalf("%s owner %s received out of order: %v", c, owner, ids)
			}
		}
	}
}

func TestUnknownCluster(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	ctx := context.Background()
	err := b.queue.Send(ctx, message("c1", "alice", "run_ok"), message("nowhere", "alice", "run_lost"))
	if !errors.Is(err, flotilla.ErrInvalid) || !strings.Contains(err.Error(), `"nowhere"`) || !strings.Contains(err.Error(), "run_lost") {
		t.Fatalf("Send to an unknown cluster = %v; want ErrInvalid naming the cluster and run", err)
	}
	if n := b.counter.Snapshot()["SQS.SendMessageBatch"]; n != 0 {
		t.Fatalf("Send made %d requests before failing; want none (all or nothing on config errors)", n)
	}
	if _, err := b.queue.Receive(ctx, "nowhere", 1, 0); !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("Receive = %v, want ErrInvalid", err)
	}
	if err := b.queue.Delete(ctx, "nowhere", "r"); !errors.Is(err, flotilla.ErrInvalid) {
		t.Fatalf("Delete = %v, want ErrInvalid", err)
	}
}

func TestVisibilityExpiryRedelivers(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Second, "c1")
	ctx := context.Background()
	if err := b.queue.Send(ctx, message("c1", "alice", "run_slow"), message("c1", "alice", "run_next")); err != nil {
		t.Fatal(err)
	}
	first, err := b.queue.Receive(ctx, "c1", 10, time.Second)
	if err != nil || len(first) != 1 || first[0].ReceiveCount != 1 {
		t.Fatalf("first Receive = %+v, %v", first, err)
	}
	// Not deleted: after the 1 s visibility timeout the same message, not
	// the next of its group, comes back with a receive count of 2.
	var again []flotilla.Delivery
	for deadline := time.Now().Add(5 * time.Second); len(again) == 0 && time.Now().Before(deadline); {
		if again, err = b.queue.Receive(ctx, "c1", 10, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if len(again) != 1 || again[0].RunID != "run_slow" || again[0].ReceiveCount != 2 {
		t.Fatalf("after visibility expiry received %+v, want run_slow with ReceiveCount 2", again)
	}
	if err := b.queue.Delete(ctx, "c1", again[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if got := runIDs(drain(t, b.queue, "c1", 1)); !slices.Equal(got, []string{"run_next"}) {
		t.Fatalf("then received %v, want [run_next]", got)
	}
}

func TestReceiveWaitsAndReturnsEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	start := time.Now()
	ds, err := b.queue.Receive(context.Background(), "c1", 10, 1500*time.Millisecond)
	if err != nil || len(ds) != 0 {
		t.Fatalf("Receive on an empty queue = %v, %v", ds, err)
	}
	// Rounded up to 2 whole seconds of long polling.
	if took := time.Since(start); took < 1900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("Receive waited %s, want about 2 s", took)
	}
}

func TestBodyIsSmallJSONOfIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	ctx := context.Background()
	if err := b.queue.Send(ctx, message("c1", "alice", "run_01JDQ8V1ZP5X4R2T6Y8W0A3B5C")); err != nil {
		t.Fatal(err)
	}
	out, err := b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(b.urls["c1"]), WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %v, %v", out, err)
	}
	m := out.Messages[0]
	want := `{"cluster":"c1","run_id":"run_01JDQ8V1ZP5X4R2T6Y8W0A3B5C","attempt":1,"owner":"alice","dedup_id":"run_01JDQ8V1ZP5X4R2T6Y8W0A3B5C#1"}`
	if aws.ToString(m.Body) != want {
		t.Fatalf("body = %s, want %s", aws.ToString(m.Body), want)
	}
	if g, d := m.Attributes["MessageGroupId"], m.Attributes["MessageDeduplicationId"]; g != "alice" || d != "run_01JDQ8V1ZP5X4R2T6Y8W0A3B5C#1" {
		t.Fatalf("group id %q, dedup id %q", g, d)
	}
}

// A body that is not a Message is left in flight for the dead-letter
// queue, and the good messages around it are delivered.
func TestMalformedBodyIsLeftForTheDLQ(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	ctx := context.Background()
	if _, err := b.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(b.urls["c1"]), MessageBody: aws.String("not json"),
		MessageGroupId: aws.String("stranger"), MessageDeduplicationId: aws.String("junk"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.queue.Send(ctx, message("c1", "alice", "run_good")); err != nil {
		t.Fatal(err)
	}
	if got := runIDs(drain(t, b.queue, "c1", 1)); !slices.Equal(got, []string{"run_good"}) {
		t.Fatalf("received %v, want [run_good]", got)
	}
	attrs, err := b.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(b.urls["c1"]),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]; n != "1" {
		t.Fatalf("messages in flight = %s, want the malformed one", n)
	}
}

// rejecting is SQS rejecting some batch entries: it sends the others to
// the real queue and reports the chosen run ids as failed (or, with
// silent, leaves them out of the answer altogether).
type rejecting struct {
	*sqs.Client
	runs   []string
	silent bool
}

func (r rejecting) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	keep := *in
	keep.Entries = nil
	var failed []types.BatchResultErrorEntry
	for _, e := range in.Entries {
		if slices.ContainsFunc(r.runs, func(run string) bool { return strings.Contains(aws.ToString(e.MessageBody), `"`+run+`"`) }) {
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameterValue"), Message: aws.String("rejected by the test"), SenderFault: true})
			continue
		}
		keep.Entries = append(keep.Entries, e)
	}
	out, err := r.Client.SendMessageBatch(ctx, &keep, opts...)
	if err != nil {
		return nil, err
	}
	if !r.silent {
		out.Failed = append(out.Failed, failed...)
	}
	return out, nil
}

func TestBatchEntryFailuresNameTheRuns(t *testing.T) {
	t.Parallel()
	for _, silent := range []bool{false, true} {
		t.Run(fmt.Sprintf("silent=%t", silent), func(t *testing.T) {
			t.Parallel()
			b := setup(t, 30*time.Second, "c1")
			ctx := context.Background()
			q := newQueue(t, rejecting{Client: b.client, runs: []string{"run_03", "run_17"}, silent: silent}, b.urls)
			var msgs []flotilla.Message
			for i := range 25 {
				msgs = append(msgs, message("c1", fmt.Sprintf("o%d", i%4), fmt.Sprintf("run_%02d", i)))
			}
			err := q.Send(ctx, msgs...)
			var serr *awssqs.SendError
			if !errors.As(err, &serr) || !slices.Equal(serr.RunIDs(), []string{"run_03", "run_17"}) {
				t.Fatalf("Send = %v; want a *SendError naming run_03 and run_17", err)
			}
			if !strings.Contains(err.Error(), "2 of 25") || !strings.Contains(err.Error(), "run run_03 attempt 1") || !strings.Contains(err.Error(), "run run_17 attempt 1") {
				t.Fatalf("error %q does not name the runs", err)
			}
			if !silent && !strings.Contains(err.Error(), "InvalidParameterValue: rejected by the test") {
				t.Fatalf("error %q lacks SQS's reason", err)
			}
			if got := drain(t, b.queue, "c1", 23); len(got) != 23 {
				t.Fatalf("received %d messages, want the other 23", len(got))
			}
		})
	}
}

// failingSecond fails every SendMessageBatch request after the first.
type failingSecond struct {
	*sqs.Client
	calls *int
}

var errDown = errors.New("sqs is down")

func (f failingSecond) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if *f.calls++; *f.calls > 1 {
		return nil, errDown
	}
	return f.Client.SendMessageBatch(ctx, in, opts...)
}

// When a request fails, that queue's later messages are not sent (they
// would overtake their group's unsent ones); they are all reported.
func TestFailedRequestStopsThatQueue(t *testing.T) {
	t.Parallel()
	b := setup(t, 30*time.Second, "c1")
	ctx := context.Background()
	q := newQueue(t, failingSecond{Client: b.client, calls: new(int)}, b.urls)
	var msgs []flotilla.Message
	for i := range 25 {
		msgs = append(msgs, message("c1", "alice", fmt.Sprintf("run_%02d", i)))
	}
	err := q.Send(ctx, msgs...)
	var serr *awssqs.SendError
	if !errors.As(err, &serr) || !errors.Is(err, errDown) || len(serr.Failed) != 15 || serr.RunIDs()[0] != "run_10" {
		t.Fatalf("Send = %v; want a *SendError wrapping the request error for run_10 … run_24", err)
	}
	if got := drain(t, b.queue, "c1", 10); len(got) != 10 || got[9].RunID != "run_09" {
		t.Fatalf("received %v, want run_00 … run_09", runIDs(got))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, urls := range map[string]map[string]string{
		"none":          nil,
		"standard":      {"c1": "https://sqs.us-east-1.amazonaws.com/123456789012/runs"},
		"empty cluster": {"": "https://sqs.us-east-1.amazonaws.com/123456789012/runs.fifo"},
	} {
		if _, err := awssqs.New(nil, awssqs.Config{QueueURLs: urls}); !errors.Is(err, flotilla.ErrInvalid) {
			t.Errorf("%s: New = %v, want ErrInvalid", name, err)
		}
	}
}
