package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// Queue is a durable FIFO queue per cluster in the embedded database, with
// SQS FIFO's semantics where Flotilla relies on them: messages of one group
// come in order and a group is blocked while one of its messages is in
// flight; a deduplication id is honoured for DedupWindow; a received
// message reappears after the visibility timeout unless deleted. Receivers
// in the same process are woken the moment a message is sent.
type Queue struct {
	db         *DB
	clusters   []string
	visibility time.Duration
	now        func() time.Time

	mu      sync.Mutex
	waiters map[string]chan struct{}
	sends   int
}

var _ flotilla.Queue = (*Queue)(nil)

// DedupWindow is how long a deduplication id suppresses re-sends, as in SQS.
const DedupWindow = 5 * time.Minute

// NewQueue returns the queue for the given clusters. visibility is how long
// a received message stays hidden (0: 30 s).
func NewQueue(db *DB, clusters []string, visibility time.Duration) *Queue {
	if visibility <= 0 {
		visibility = 30 * time.Second
	}
	return &Queue{db: db, clusters: clusters, visibility: visibility, now: time.Now, waiters: map[string]chan struct{}{}}
}

func (q *Queue) known(cluster string) error {
	if !slices.Contains(q.clusters, cluster) {
		return fmt.Errorf("queue: cluster %q has no queue (clusters: %v): %w", cluster, q.clusters, flotilla.ErrNotFound)
	}
	return nil
}

// Send implements flotilla.Queue.
func (q *Queue) Send(ctx context.Context, msgs ...flotilla.Message) error {
	for _, m := range msgs {
		if err := q.known(m.Cluster); err != nil {
			return err
		}
	}
	now := q.now()
	sent := map[string]bool{}
	tx, err := q.db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue send: %w", err)
	}
	defer tx.Rollback()
	q.mu.Lock()
	q.sends++
	sweep := q.sends%1000 == 1
	q.mu.Unlock()
	if sweep {
		if _, err := tx.ExecContext(ctx, `DELETE FROM queue_dedup WHERE sent_at < ?`, now.Add(-DedupWindow).UnixNano()); err != nil {
			return fmt.Errorf("queue send: %w", err)
		}
	}
	for _, m := range msgs {
		if m.DedupID != "" {
			var at int64
			err := tx.QueryRowContext(ctx, `SELECT sent_at FROM queue_dedup WHERE cluster=? AND dedup_id=?`, m.Cluster, m.DedupID).Scan(&at)
			if err == nil && at > now.Add(-DedupWindow).UnixNano() {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO queue_dedup(cluster, dedup_id, sent_at) VALUES (?,?,?)
				ON CONFLICT(cluster, dedup_id) DO UPDATE SET sent_at=excluded.sent_at`, m.Cluster, m.DedupID, now.UnixNano()); err != nil {
				return fmt.Errorf("queue send %s: %w", m.RunID, err)
			}
		}
		body, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO queue_messages(cluster, group_id, body, visible_at, receipt, receive_count) VALUES (?,?,?,?,?,0)`,
			m.Cluster, m.Owner, body, now.UnixNano(), ""); err != nil {
			return fmt.Errorf("queue send %s: %w", m.RunID, err)
		}
		sent[m.Cluster] = true
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue send: %w", err)
	}
	for c := range sent {
		q.wake(c)
	}
	return nil
}

// wake releases every Receive waiting on the cluster.
func (q *Queue) wake(cluster string) {
	q.mu.Lock()
	if ch, ok := q.waiters[cluster]; ok {
		close(ch)
		delete(q.waiters, cluster)
	}
	q.mu.Unlock()
}

func (q *Queue) signal(cluster string) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch, ok := q.waiters[cluster]
	if !ok {
		ch = make(chan struct{})
		q.waiters[cluster] = ch
	}
	return ch
}

// Receive implements flotilla.Queue. It returns at most one message per
// group (the head of each unblocked group), oldest first.
func (q *Queue) Receive(ctx context.Context, cluster string, max int, wait time.Duration) ([]flotilla.Delivery, error) {
	if err := q.known(cluster); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		signal := q.signal(cluster) // before the read, so a send in between wakes us
		ds, nextVisible, err := q.receiveOnce(ctx, cluster, max)
		if err != nil || len(ds) > 0 || wait <= 0 {
			return ds, err
		}
		var retry <-chan time.Time
		if !nextVisible.IsZero() {
			timer := time.NewTimer(max64(nextVisible.Sub(q.now()), time.Millisecond))
			defer timer.Stop()
			retry = timer.C
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			ds, _, err := q.receiveOnce(ctx, cluster, max)
			return ds, err
		case <-signal:
		case <-retry:
		}
	}
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// receiveOnce takes the visible group heads, and reports when the next
// hidden head becomes visible (zero if none is hidden).
func (q *Queue) receiveOnce(ctx context.Context, cluster string, max int) ([]flotilla.Delivery, time.Time, error) {
	now := q.now().UnixNano()
	tx, err := q.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("queue receive: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT m.seq, m.body, m.visible_at, m.receive_count FROM queue_messages m
		WHERE m.cluster = ? AND m.seq = (SELECT min(seq) FROM queue_messages g WHERE g.cluster = m.cluster AND g.group_id = m.group_id)
		ORDER BY m.seq`, cluster)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("queue receive: %w", err)
	}
	type head struct {
		seq   int64
		body  []byte
		count int
	}
	var heads []head
	var nextVisible int64
	for rows.Next() {
		var h head
		var visibleAt int64
		if err := rows.Scan(&h.seq, &h.body, &visibleAt, &h.count); err != nil {
			rows.Close()
			return nil, time.Time{}, err
		}
		if visibleAt > now {
			if nextVisible == 0 || visibleAt < nextVisible {
				nextVisible = visibleAt
			}
			continue
		}
		if len(heads) < max {
			heads = append(heads, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	var out []flotilla.Delivery
	for _, h := range heads {
		receipt := newReceipt()
		if _, err := tx.ExecContext(ctx, `UPDATE queue_messages SET visible_at=?, receipt=?, receive_count=receive_count+1 WHERE seq=?`,
			now+int64(q.visibility), receipt, h.seq); err != nil {
			return nil, time.Time{}, fmt.Errorf("queue receive: %w", err)
		}
		var m flotilla.Message
		if err := json.Unmarshal(h.body, &m); err != nil {
			return nil, time.Time{}, fmt.Errorf("queue receive: decode: %w", err)
		}
		out = append(out, flotilla.Delivery{Message: m, Receipt: receipt, ReceiveCount: h.count + 1})
	}
	if err := tx.Commit(); err != nil {
		return nil, time.Time{}, fmt.Errorf("queue receive: %w", err)
	}
	var nv time.Time
	if nextVisible != 0 {
		nv = time.Unix(0, nextVisible)
	}
	return out, nv, nil
}

// Delete implements flotilla.Queue. A stale receipt (the message was
// received again since) deletes nothing.
func (q *Queue) Delete(ctx context.Context, cluster, receipt string) error {
	if err := q.known(cluster); err != nil {
		return err
	}
	res, err := q.db.write.ExecContext(ctx, `DELETE FROM queue_messages WHERE cluster=? AND receipt=?`, cluster, receipt)
	if err != nil {
		return fmt.Errorf("queue delete: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		q.wake(cluster) // the group's next message may now be visible
	}
	return nil
}

// Depth counts the cluster's messages not yet deleted.
func (q *Queue) Depth(ctx context.Context, cluster string) (int, error) {
	var n int
	err := q.db.read.QueryRowContext(ctx, `SELECT count(*) FROM queue_messages WHERE cluster=?`, cluster).Scan(&n)
	return n, err
}

func newReceipt() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
