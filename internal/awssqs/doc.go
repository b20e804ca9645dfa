// Package awssqs is the flotilla.Queue on Amazon SQS FIFO queues.
//
// # One queue per cluster
//
// Each cluster has its own FIFO queue; Config.QueueURLs maps cluster names
// to queue URLs. Sending to, receiving from or deleting on a cluster that is
// not in the map is an error wrapping flotilla.ErrInvalid, checked before any
// request is made, so a misconfigured cluster fails loudly instead of losing
// messages.
//
// # Message groups: one per owner
//
// SQS FIFO hands out a group's messages one at a time: while a message of a
// group is in flight, the group's later messages wait. The group id is the
// message's owner (DESIGN §5), so a burst from one owner queues up behind
// itself while every other owner's group keeps flowing; a consumer (or the
// Lambda event source mapping, whose concurrency follows the number of
// active groups) interleaves owners. Messages without an owner share one
// group, "_none". The dispatcher admits runs before enqueueing them (the run
// waits QUEUED in the table, not in the queue), so a group's backlog stays
// short and SQS's scan of the queue head for available groups is not
// starved by one large group.
//
// # Deduplication
//
// The deduplication id is Message.DedupID, by default "run_id#attempt": a
// re-send of the same attempt within SQS's five-minute window is accepted
// and not delivered again. Re-admitting a waiting run uses a fresh DedupID.
//
// Group and deduplication ids are 1–128 characters of printable ASCII
// (0x21–0x7e). An id that already fits is used as is; any other is replaced
// by a readable prefix plus the SHA-256 of the whole value, so two different
// owners or dedup ids never collapse into one.
//
// # Bodies
//
// A body is the JSON of the Message: the cluster, run id, attempt, owner and
// dedup id — a hundred-odd bytes, never the run. The run is read from the
// store.
//
// # Sending
//
// Send batches messages with SendMessageBatch, ten per request, in the
// order given, so each group's order is kept. Entries SQS rejects are
// reported in a *SendError naming every run that was not enqueued; nothing
// is dropped silently. When a whole request fails (after the SDK's retries),
// the rest of that queue's messages are not sent, so a group's later
// messages never overtake an earlier one; re-sending the lot is safe because
// the enqueued ones are deduplicated.
//
// # Receiving
//
// Receive long-polls (WaitTimeSeconds, whole seconds, at most 20) and asks
// for ApproximateReceiveCount, which becomes Delivery.ReceiveCount. A body
// that is not a Message is logged and left in flight, so the queue's redrive
// policy moves it to the dead-letter queue.
package awssqs
