package embedded

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"github.com/flotilla-run/flotilla/internal/ids"
)

// Store is the flotilla.Store on SQLite. Rows keep the indexed columns
// beside the whole item as JSON, so reads decode one column and the list
// filters run on indexes.
type Store struct {
	db *DB
}

var _ flotilla.Store = (*Store)(nil)

// NewStore returns the store on db.
func NewStore(db *DB) *Store { return &Store{db: db} }

const (
	defaultLimit = 50
	maxLimit     = 500
)

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// --- definitions ---

// CreateDefinition implements flotilla.Store.
func (s *Store) CreateDefinition(ctx context.Context, d flotilla.Definition) (flotilla.Definition, error) {
	err := s.writeTx(ctx, func(tx conn) error {
		return insertDefinition(ctx, tx, d, true)
	})
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("create definition %s: %w", d.Alias, err)
	}
	return d, nil
}

func insertDefinition(ctx context.Context, tx conn, d flotilla.Definition, create bool) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if create {
		_, err = tx.ExecContext(ctx, `INSERT INTO definitions(id, alias, group_name, image, revision, body) VALUES (?,?,?,?,?,?)`,
			d.ID, d.Alias, d.Group, d.Image, d.Revision, body)
	} else {
		var res sql.Result
		res, err = tx.ExecContext(ctx, `UPDATE definitions SET alias=?, group_name=?, image=?, revision=?, body=? WHERE id=? AND revision=?`,
			d.Alias, d.Group, d.Image, d.Revision, body, d.ID, d.Revision-1)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("revision %d is not the next one: %w", d.Revision, flotilla.ErrConflict)
			}
		}
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("alias %s is taken: %w", d.Alias, flotilla.ErrConflict)
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO definition_revisions(id, revision, body) VALUES (?,?,?)`, d.ID, d.Revision, body); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("revision %d exists: %w", d.Revision, flotilla.ErrConflict)
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM definition_tags WHERE id=?`, d.ID); err != nil {
		return err
	}
	for _, tag := range d.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO definition_tags(tag, id) VALUES (?,?)`, tag, d.ID); err != nil {
			return err
		}
	}
	return nil
}

// GetDefinition implements flotilla.Store.
func (s *Store) GetDefinition(ctx context.Context, ref string) (flotilla.Definition, error) {
	var body []byte
	err := s.db.reader().QueryRowContext(ctx, `SELECT body FROM definitions WHERE id=? OR alias=? LIMIT 1`, ref, ref).Scan(&body)
	return decodeDefinition(body, err, ref)
}

// GetDefinitionRevision implements flotilla.Store.
func (s *Store) GetDefinitionRevision(ctx context.Context, ref string, revision int) (flotilla.Definition, error) {
	var body []byte
	err := s.db.reader().QueryRowContext(ctx, `SELECT r.body FROM definition_revisions r JOIN definitions d ON d.id = r.id
		WHERE (d.id=? OR d.alias=?) AND r.revision=?`, ref, ref, revision).Scan(&body)
	return decodeDefinition(body, err, fmt.Sprintf("%s revision %d", ref, revision))
}

func decodeDefinition(body []byte, err error, ref string) (flotilla.Definition, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return flotilla.Definition{}, notFound("definition", ref)
	}
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("get definition %s: %w", ref, err)
	}
	var d flotilla.Definition
	if err := json.Unmarshal(body, &d); err != nil {
		return flotilla.Definition{}, fmt.Errorf("get definition %s: decode: %w", ref, err)
	}
	return d, nil
}

// UpdateDefinition implements flotilla.Store.
func (s *Store) UpdateDefinition(ctx context.Context, d flotilla.Definition) (flotilla.Definition, error) {
	err := s.writeTx(ctx, func(tx conn) error {
		return insertDefinition(ctx, tx, d, false)
	})
	if err != nil {
		return flotilla.Definition{}, fmt.Errorf("update definition %s: %w", d.ID, err)
	}
	return d, nil
}

// DeleteDefinition implements flotilla.Store.
func (s *Store) DeleteDefinition(ctx context.Context, ref string) error {
	err := s.writeTx(ctx, func(tx conn) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM definitions WHERE id=? OR alias=?`, ref, ref).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("definition", ref)
		}
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM definitions WHERE id=?`, `DELETE FROM definition_revisions WHERE id=?`, `DELETE FROM definition_tags WHERE id=?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete definition %s: %w", ref, err)
	}
	return nil
}

// ListDefinitions implements flotilla.Store: alias order, cursor = last alias.
func (s *Store) ListDefinitions(ctx context.Context, f flotilla.DefinitionFilter) (flotilla.Page[flotilla.Definition], error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Alias != "" {
		add(`alias LIKE ? ESCAPE '\'`, "%"+likeEscape(f.Alias)+"%")
	}
	if f.Image != "" {
		add(`image LIKE ? ESCAPE '\'`, "%"+likeEscape(f.Image)+"%")
	}
	if f.Group != "" {
		add(`group_name = ?`, f.Group)
	}
	if f.Tag != "" {
		add(`id IN (SELECT id FROM definition_tags WHERE tag = ?)`, f.Tag)
	}
	if f.NextToken != "" {
		after, err := decodeCursor(cursorDefinitions, f.NextToken)
		if err != nil {
			return flotilla.Page[flotilla.Definition]{}, err
		}
		add(`alias > ?`, after)
	}
	limit := clampLimit(f.Limit)
	q := `SELECT alias, body FROM definitions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(` ORDER BY alias LIMIT %d`, limit+1)
	rows, err := s.db.reader().QueryContext(ctx, q, args...)
	if err != nil {
		return flotilla.Page[flotilla.Definition]{}, fmt.Errorf("list definitions: %w", err)
	}
	defer rows.Close()
	var page flotilla.Page[flotilla.Definition]
	page.Items = []flotilla.Definition{}
	var last string
	for rows.Next() {
		var alias string
		var body []byte
		if err := rows.Scan(&alias, &body); err != nil {
			return page, fmt.Errorf("list definitions: %w", err)
		}
		if len(page.Items) == limit {
			page.NextToken = encodeCursor(cursorDefinitions, last)
			break
		}
		var d flotilla.Definition
		if err := json.Unmarshal(body, &d); err != nil {
			return page, fmt.Errorf("list definitions: decode %s: %w", alias, err)
		}
		page.Items = append(page.Items, d)
		last = alias
	}
	return page, rows.Err()
}

// --- runs ---

// runByIdempotencyKey finds an owner's run by its key. The non-empty key
// term lets SQLite use the partial index runs_idempotency (a bound
// parameter does not prove the index's WHERE); without it the lookup
// scanned every run of the owner, so each launch with a key got slower as
// the owner's history grew.
const runByIdempotencyKey = `SELECT body FROM runs WHERE owner=? AND idempotency_key=? AND idempotency_key <> ''`

// CreateRun implements flotilla.Store.
func (s *Store) CreateRun(ctx context.Context, r flotilla.Run) (flotilla.Run, bool, error) {
	var existing flotilla.Run
	created := false
	err := s.writeTx(ctx, func(tx conn) error {
		if r.IdempotencyKey != "" {
			var body []byte
			err := tx.QueryRowContext(ctx, runByIdempotencyKey, r.Owner, r.IdempotencyKey).Scan(&body)
			if err == nil {
				return json.Unmarshal(body, &existing)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if err := insertRun(ctx, tx, r); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return flotilla.Run{}, false, fmt.Errorf("create run %s: %w", r.ID, err)
	}
	if !created {
		return existing, false, nil
	}
	return r, true, nil
}

// insertRun stores a new run, its tags, what it waits for and its first
// event; ErrConflict when its id exists.
func insertRun(ctx context.Context, tx conn, r flotilla.Run) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO runs(id, cluster, status, definition_id, owner, schedule_id, queued_at, idempotency_key, parent, body)
		VALUES (?,?,?,?,?,?,?,?,?,?)`, r.ID, r.Cluster, r.Status, r.DefinitionID, r.Owner, r.ScheduleID, r.QueuedAt.UnixNano(), r.IdempotencyKey,
		r.Parent, body)
	if isUniqueViolation(err) {
		return fmt.Errorf("run %s exists: %w", r.ID, flotilla.ErrConflict)
	}
	if err != nil {
		return err
	}
	if err := countChild(ctx, tx, r, ""); err != nil {
		return err
	}
	for _, tag := range r.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO run_tags(tag, run_id) VALUES (?,?)`, tag, r.ID); err != nil {
			return err
		}
	}
	for _, dep := range r.After {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO run_after(dep_id, run_id) VALUES (?,?)`, dep, r.ID); err != nil {
			return err
		}
	}
	return insertEvent(ctx, tx, flotilla.RunEvent{RunID: r.ID, Time: r.QueuedAt, Source: sourceOf(r), To: r.Status, Reason: r.StatusReason, Attempt: r.Attempt})
}

// countChild moves child c, now in its status, from status from ("": new)
// in its parent's counts, and marks its array index when it ended FAILED
// or STOPPED; nothing for a run without a parent.
func countChild(ctx context.Context, tx conn, c flotilla.Run, from flotilla.RunStatus) error {
	if c.Parent == "" || from == c.Status {
		return nil
	}
	if from != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE child_counts SET n = n - 1 WHERE parent=? AND status=?`, c.Parent, from); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO child_counts(parent, status, n) VALUES (?,?,1)
		ON CONFLICT(parent, status) DO UPDATE SET n = n + 1`, c.Parent, c.Status); err != nil {
		return err
	}
	if c.ArrayIndex == nil || (c.Status != flotilla.StatusFailed && c.Status != flotilla.StatusStopped) {
		return nil
	}
	var bits []byte
	err := tx.QueryRowContext(ctx, `SELECT bits FROM child_failures WHERE parent=?`, c.Parent).Scan(&bits)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	i := *c.ArrayIndex
	if need := i/8 + 1; len(bits) < need {
		bits = append(bits, make([]byte, need-len(bits))...)
	}
	bits[i/8] |= 1 << (i % 8)
	_, err = tx.ExecContext(ctx, `INSERT INTO child_failures(parent, bits) VALUES (?,?)
		ON CONFLICT(parent) DO UPDATE SET bits = excluded.bits`, c.Parent, bits)
	return err
}

// CreateRuns implements flotilla.Store: one transaction for the batch.
func (s *Store) CreateRuns(ctx context.Context, runs []flotilla.Run) (int, error) {
	n := 0
	err := s.writeTx(ctx, func(tx conn) error {
		n = 0
		for _, r := range runs {
			if r.IdempotencyKey != "" {
				return fmt.Errorf("run %s has an idempotency key: %w", r.ID, flotilla.ErrInvalid)
			}
			err := insertRun(ctx, tx, r)
			if errors.Is(err, flotilla.ErrConflict) {
				continue // made before: a batch made again
			}
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("create %d runs: %w", len(runs), err)
	}
	return n, nil
}

// PutArrayElements implements flotilla.Store.
func (s *Store) PutArrayElements(ctx context.Context, parentID string, elems []flotilla.ArrayElement) error {
	err := s.writeTx(ctx, func(tx conn) error {
		for i, e := range elems {
			body, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO array_elements(parent, seq, body) VALUES (?,?,?)`, parentID, i, body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store the elements of array %s: %w", parentID, err)
	}
	return nil
}

// ArrayElements implements flotilla.Store.
func (s *Store) ArrayElements(ctx context.Context, parentID string, from, to int) ([]flotilla.ArrayElement, error) {
	rows, err := s.db.reader().QueryContext(ctx, `SELECT body FROM array_elements WHERE parent=? AND seq >= ? AND seq < ? ORDER BY seq`, parentID, from, to)
	if err != nil {
		return nil, fmt.Errorf("read the elements of array %s: %w", parentID, err)
	}
	defer rows.Close()
	var out []flotilla.ArrayElement
	for rows.Next() {
		var body []byte
		var e flotilla.ArrayElement
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("read the elements of array %s: %w", parentID, err)
		}
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("read the elements of array %s: decode: %w", parentID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ChildSummary implements flotilla.Store: one read of child_counts and
// one of child_failures, however many children there are.
func (s *Store) ChildSummary(ctx context.Context, parent string) (flotilla.ChildSummary, error) {
	sum := flotilla.ChildSummary{Counts: map[flotilla.RunStatus]int{}, FailedIndexes: []int{}}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT status, n FROM child_counts WHERE parent=? AND n > 0`, parent)
	if err != nil {
		return sum, fmt.Errorf("summarise the children of %s: %w", parent, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st flotilla.RunStatus
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return sum, fmt.Errorf("summarise the children of %s: %w", parent, err)
		}
		sum.Counts[st] = n
		if st.Terminal() {
			sum.Ended += n
		}
	}
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("summarise the children of %s: %w", parent, err)
	}
	var bits []byte
	err = s.db.reader().QueryRowContext(ctx, `SELECT bits FROM child_failures WHERE parent=?`, parent).Scan(&bits)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sum, fmt.Errorf("summarise the children of %s: %w", parent, err)
	}
	for i, b := range bits {
		for j := range 8 {
			if b&(1<<j) != 0 {
				sum.FailedIndexes = append(sum.FailedIndexes, i*8+j)
			}
		}
	}
	return sum, nil
}

func sourceOf(r flotilla.Run) flotilla.EventSource {
	if r.ScheduleID != "" {
		return flotilla.SourceSchedule
	}
	return flotilla.SourceAPI
}

func insertEvent(ctx context.Context, tx conn, e flotilla.RunEvent) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO run_events(run_id, body) VALUES (?,?)`, e.RunID, body)
	return err
}

// GetRun implements flotilla.Store.
func (s *Store) GetRun(ctx context.Context, id string) (flotilla.Run, error) {
	return getRun(ctx, s.db.reader(), id)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getRun(ctx context.Context, q queryer, id string) (flotilla.Run, error) {
	var body []byte
	err := q.QueryRowContext(ctx, `SELECT body FROM runs WHERE id=?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return flotilla.Run{}, notFound("run", id)
	}
	if err != nil {
		return flotilla.Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	var r flotilla.Run
	if err := json.Unmarshal(body, &r); err != nil {
		return flotilla.Run{}, fmt.Errorf("get run %s: decode: %w", id, err)
	}
	return r, nil
}

// ListRuns implements flotilla.Store: newest first, cursor = last run id.
func (s *Store) ListRuns(ctx context.Context, f flotilla.RunFilter) (flotilla.Page[flotilla.Run], error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if len(f.Statuses) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(f.Statuses)), ",")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
		where = append(where, `status IN (`+marks+`)`)
	}
	if f.Cluster != "" {
		add(`cluster = ?`, f.Cluster)
	}
	if f.DefinitionID != "" {
		add(`definition_id = ?`, f.DefinitionID)
	}
	if f.Owner != "" {
		add(`owner = ?`, f.Owner)
	}
	if f.ScheduleID != "" {
		add(`schedule_id = ?`, f.ScheduleID)
	}
	if f.Tag != "" {
		add(`id IN (SELECT run_id FROM run_tags WHERE tag = ?)`, f.Tag)
	}
	if f.Parent != "" {
		add(`parent = ? AND parent <> ''`, f.Parent)
	}
	if f.After != "" {
		add(`id IN (SELECT run_id FROM run_after WHERE dep_id = ?)`, f.After)
	}
	if !f.Since.IsZero() {
		add(`queued_at >= ?`, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add(`queued_at < ?`, f.Until.UnixNano())
	}
	if f.NextToken != "" {
		after, err := decodeCursor(cursorRuns, f.NextToken)
		if err != nil {
			return flotilla.Page[flotilla.Run]{}, err
		}
		add(`id < ?`, after)
	}
	limit := clampLimit(f.Limit)
	q := `SELECT id, body FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit+1)
	return s.queryRuns(ctx, q, args, limit)
}

func (s *Store) queryRuns(ctx context.Context, q string, args []any, limit int) (flotilla.Page[flotilla.Run], error) {
	rows, err := s.db.reader().QueryContext(ctx, q, args...)
	if err != nil {
		return flotilla.Page[flotilla.Run]{}, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	page := flotilla.Page[flotilla.Run]{Items: []flotilla.Run{}}
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return page, fmt.Errorf("list runs: %w", err)
		}
		if limit > 0 && len(page.Items) == limit {
			page.NextToken = encodeCursor(cursorRuns, page.Items[len(page.Items)-1].ID)
			break
		}
		var r flotilla.Run
		if err := json.Unmarshal(body, &r); err != nil {
			return page, fmt.Errorf("list runs: decode %s: %w", id, err)
		}
		page.Items = append(page.Items, r)
	}
	return page, rows.Err()
}

// TransitionRun implements flotilla.Store.
func (s *Store) TransitionRun(ctx context.Context, t flotilla.Transition) (flotilla.Run, error) {
	var out flotilla.Run
	err := s.writeTx(ctx, func(tx conn) error {
		r, err := getRun(ctx, tx, t.RunID)
		if err != nil {
			return err
		}
		if err := t.Check(r); err != nil {
			return err
		}
		switch flotilla.SlotDelta(r.Status, t.To) {
		case 1:
			if err := takeSlot(ctx, tx, r.Cluster, "", t.MaxRunning); err != nil {
				return err
			}
			if err := takeSlot(ctx, tx, r.Cluster, r.Owner, t.MaxRunningPerOwner); err != nil {
				return err
			}
		case -1:
			for _, owner := range []string{"", r.Owner} {
				if _, err := tx.ExecContext(ctx, `UPDATE slots SET used = used - 1 WHERE cluster=? AND owner=?`, r.Cluster, owner); err != nil {
					return err
				}
			}
		}
		next, ev := t.Apply(r)
		body, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status=?, cluster=?, body=? WHERE id=?`, next.Status, next.Cluster, body, next.ID); err != nil {
			return err
		}
		if err := countChild(ctx, tx, next, r.Status); err != nil {
			return err
		}
		if ev != nil {
			if err := insertEvent(ctx, tx, *ev); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	if err != nil {
		return flotilla.Run{}, fmt.Errorf("transition run %s to %s: %w", t.RunID, t.To, err)
	}
	return out, nil
}

func takeSlot(ctx context.Context, tx conn, cluster, owner string, limit int) error {
	var used int
	err := tx.QueryRowContext(ctx, `SELECT used FROM slots WHERE cluster=? AND owner=?`, cluster, owner).Scan(&used)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if limit > 0 && used >= limit {
		who := "cluster " + cluster
		if owner != "" {
			who = "owner " + owner + " on cluster " + cluster
		}
		return fmt.Errorf("%s holds %d of %d slots: %w", who, used, limit, flotilla.ErrNoCapacity)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO slots(cluster, owner, used) VALUES (?,?,1)
		ON CONFLICT(cluster, owner) DO UPDATE SET used = used + 1`, cluster, owner)
	return err
}

// ListRunEvents implements flotilla.Store.
func (s *Store) ListRunEvents(ctx context.Context, runID string) ([]flotilla.RunEvent, error) {
	rows, err := s.db.reader().QueryContext(ctx, `SELECT body FROM run_events WHERE run_id=? ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("list events of run %s: %w", runID, err)
	}
	defer rows.Close()
	out := []flotilla.RunEvent{}
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var e flotilla.RunEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("list events of run %s: decode: %w", runID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListQueued implements flotilla.Store.
func (s *Store) ListQueued(ctx context.Context, cluster string, limit int) ([]flotilla.Run, error) {
	page, err := s.queryRuns(ctx, fmt.Sprintf(`SELECT id, body FROM runs WHERE cluster=? AND status='QUEUED' ORDER BY id LIMIT %d`, max(limit, 1)),
		[]any{cluster}, 0)
	return page.Items, err
}

// OldestQueuedPerOwner implements flotilla.Store.
func (s *Store) OldestQueuedPerOwner(ctx context.Context, cluster string, limit int) ([]flotilla.Run, error) {
	// A skip-scan of the (cluster, status, owner, id) index: one seek per
	// owner waiting, then one for that owner's oldest run, so the cost
	// grows with the owners, not with the queue (a GROUP BY read every
	// queued run: 4.5 ms a dispatch with 10,000 queued).
	page, err := s.queryRuns(ctx, fmt.Sprintf(`WITH RECURSIVE owners(o) AS (
			SELECT (SELECT min(owner) FROM runs WHERE cluster=?1 AND status='QUEUED')
			UNION ALL
			SELECT (SELECT min(owner) FROM runs WHERE cluster=?1 AND status='QUEUED' AND owner > o) FROM owners WHERE o IS NOT NULL)
		SELECT id, body FROM runs WHERE id IN (
			SELECT (SELECT min(id) FROM runs WHERE cluster=?1 AND status='QUEUED' AND owner = o) FROM owners WHERE o IS NOT NULL)
		ORDER BY id LIMIT %d`, max(limit, 1)),
		[]any{cluster}, 0)
	return page.Items, err
}

// QueuedAhead implements flotilla.Store.
func (s *Store) QueuedAhead(ctx context.Context, r flotilla.Run) (int, error) {
	var n int
	err := s.db.reader().QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE cluster=? AND status='QUEUED' AND id < ?`, r.Cluster, r.ID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue position of run %s: %w", r.ID, err)
	}
	return n, nil
}

// QueuePositions places the given QUEUED runs of cluster in its line (1 is
// next) with one count and one ordered scan of the stretch of the queue
// they span, however many they are. Runs no longer queued are left out.
func (s *Store) QueuePositions(ctx context.Context, cluster string, ids []string) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	lo, hi := slices.Min(ids), slices.Max(ids)
	var ahead int
	if err := s.db.reader().QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE cluster=? AND status='QUEUED' AND id < ?`, cluster, lo).Scan(&ahead); err != nil {
		return nil, fmt.Errorf("queue positions on cluster %s: %w", cluster, err)
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT id FROM runs WHERE cluster=? AND status='QUEUED' AND id >= ? AND id <= ? ORDER BY id`, cluster, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("queue positions on cluster %s: %w", cluster, err)
	}
	defer rows.Close()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	n := ahead
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("queue positions on cluster %s: %w", cluster, err)
		}
		n++
		if want[id] {
			out[id] = n
		}
	}
	return out, rows.Err()
}

// ClusterUsage implements flotilla.Store.
func (s *Store) ClusterUsage(ctx context.Context, cluster string) (flotilla.Usage, error) {
	u := flotilla.Usage{RunningOwner: map[string]int{}}
	if err := s.db.reader().QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE cluster=? AND status='QUEUED'`, cluster).Scan(&u.Queued); err != nil {
		return u, fmt.Errorf("usage of cluster %s: %w", cluster, err)
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT owner, used FROM slots WHERE cluster=?`, cluster)
	if err != nil {
		return u, fmt.Errorf("usage of cluster %s: %w", cluster, err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner string
		var used int
		if err := rows.Scan(&owner, &used); err != nil {
			return u, err
		}
		if owner == "" {
			u.Running = used
		} else if used > 0 {
			u.RunningOwner[owner] = used
		}
	}
	return u, rows.Err()
}

func (s *Store) writeTx(ctx context.Context, fn func(tx conn) error) error {
	return s.db.writeTx(ctx, fn)
}

// Cursor kinds: a list's next_token is base64 of "<kind>:<last key>", and
// the key must have the shape that list's keys have, so a forged or
// garbled token is a 400, never a query on garbage.
const (
	cursorRuns        = "r1"
	cursorDefinitions = "d1"
	cursorSchedules   = "s1"
)

func encodeCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key))
}

func decodeCursor(kind, tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	key, ok := strings.CutPrefix(string(b), kind+":")
	if err == nil && ok && validCursorKey(kind, key) {
		return key, nil
	}
	return "", flotilla.Invalid("next_token", "is not a token this server made for this list")
}

func validCursorKey(kind, key string) bool {
	switch kind {
	case cursorRuns:
		_, ok := ids.Time(key, ids.Run)
		return ok
	case cursorSchedules:
		_, ok := ids.Time(key, ids.Schedule)
		return ok
	default: // an alias
		return key != "" && len(key) <= 63 && utf8.ValidString(key) && !strings.ContainsFunc(key, unicode.IsControl)
	}
}

// AppendRunEvent implements flotilla.Store.
func (s *Store) AppendRunEvent(ctx context.Context, ev flotilla.RunEvent) error {
	return s.writeTx(ctx, func(tx conn) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id=?`, ev.RunID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("append to run %s: %w", ev.RunID, flotilla.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("append to run %s: %w", ev.RunID, err)
		}
		return insertEvent(ctx, tx, ev)
	})
}
