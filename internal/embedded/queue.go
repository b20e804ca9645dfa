package embedded

import (
	"context"
	"crypto/rand"
	"database/sql"
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
	q.mu.Lock()
	q.sends++
	sweep := q.sends%1000 == 1
	q.mu.Unlock()
	err := q.db.writeTx(ctx, func(tx conn) error {
		if sweep {
			if _, err := tx.ExecContext(ctx, `DELETE FROM queue_dedup WHERE sent_at < ?`, now.Add(-DedupWindow).UnixNano()); err != nil {
				return err
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
					return fmt.Errorf("%s: %w", m.RunID, err)
				}
			}
			body, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO queue_messages(cluster, group_id, body, visible_at, receipt, receive_count) VALUES (?,?,?,?,?,0)`,
				m.Cluster, m.Owner, body, now.UnixNano(), ""); err != nil {
				return fmt.Errorf("%s: %w", m.RunID, err)
			}
			sent[m.Cluster] = true
		}
		return nil
	})
	if err != nil {
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

// Receive implements flotilla.Queue. Like SQS FIFO it may return several
// messages of one group, in order; a group with a message in flight gives
// none.
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

// receiveOnce takes messages of the groups that have none in flight, each
// group's in order, oldest group first; it reports when the next hidden
// message becomes visible (zero if none is hidden).
func (q *Queue) receiveOnce(ctx context.Context, cluster string, max int) ([]flotilla.Delivery, time.Time, error) {
	now := q.now().UnixNano()
	var out []flotilla.Delivery
	var nextVisible int64
	err := q.db.writeTx(ctx, func(tx conn) error {
		out, nextVisible = nil, 0
		rows, err := tx.QueryContext(ctx, `SELECT m.group_id, m.visible_at FROM queue_messages m
			JOIN (SELECT group_id, min(seq) AS head FROM queue_messages WHERE cluster = ? GROUP BY group_id) h ON m.seq = h.head
			ORDER BY m.seq`, cluster)
		if err != nil {
			return err
		}
		var groups []string
		for rows.Next() {
			var g string
			var visibleAt int64
			if err := rows.Scan(&g, &visibleAt); err != nil {
				rows.Close()
				return err
			}
			if visibleAt > now {
				if nextVisible == 0 || visibleAt < nextVisible {
					nextVisible = visibleAt
				}
				continue
			}
			groups = append(groups, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, g := range groups {
			if len(out) >= max {
				break
			}
			taken, err := q.takeGroup(ctx, tx, cluster, g, max-len(out), now)
			if err != nil {
				return err
			}
			out = append(out, taken...)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("queue receive: %w", err)
	}
	var nv time.Time
	if nextVisible != 0 {
		nv = time.Unix(0, nextVisible)
	}
	return out, nv, nil
}

// takeGroup receives up to n visible messages of one group, in order.
func (q *Queue) takeGroup(ctx context.Context, tx conn, cluster, group string, n int, now int64) ([]flotilla.Delivery, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, body, visible_at, receive_count FROM queue_messages
		WHERE cluster = ? AND group_id = ? ORDER BY seq LIMIT ?`, cluster, group, n)
	if err != nil {
		return nil, err
	}
	type msg struct {
		seq   int64
		body  []byte
		count int
	}
	var ms []msg
	for rows.Next() {
		var m msg
		var visibleAt int64
		if err := rows.Scan(&m.seq, &m.body, &visibleAt, &m.count); err != nil {
			rows.Close()
			return nil, err
		}
		if visibleAt > now {
			break // in flight: the group's order stops here
		}
		ms = append(ms, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []flotilla.Delivery
	for _, m := range ms {
		receipt := newReceipt()
		if _, err := tx.ExecContext(ctx, `UPDATE queue_messages SET visible_at=?, receipt=?, receive_count=receive_count+1 WHERE seq=?`,
			now+int64(q.visibility), receipt, m.seq); err != nil {
			return nil, err
		}
		var d flotilla.Message
		if err := json.Unmarshal(m.body, &d); err != nil {
			return nil, fmt.Errorf("decode message %d: %w", m.seq, err)
		}
		out = append(out, flotilla.Delivery{Message: d, Receipt: receipt, ReceiveCount: m.count + 1})
	}
	return out, nil
}

// Delete implements flotilla.Queue. A stale receipt (the message was
// received again since) deletes nothing.
func (q *Queue) Delete(ctx context.Context, cluster, receipt string) error {
	if err := q.known(cluster); err != nil {
		return err
	}
	var res sql.Result
	err := q.db.writeTx(ctx, func(tx conn) error {
		var err error
		res, err = tx.ExecContext(ctx, `DELETE FROM queue_messages WHERE cluster=? AND receipt=?`, cluster, receipt)
		return err
	})
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
	err := q.db.reader().QueryRowContext(ctx, `SELECT count(*) FROM queue_messages WHERE cluster=?`, cluster).Scan(&n)
	return n, err
}

func newReceipt() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
