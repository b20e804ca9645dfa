package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// ScheduleStore is the flotilla.ScheduleStore on SQLite: the schedule as
// JSON beside its indexed columns, and the last fire time in a column of its
// own, moved only forward by RecordFire.
type ScheduleStore struct {
	db *DB
}

var _ flotilla.ScheduleStore = (*ScheduleStore)(nil)

// NewScheduleStore returns the schedule store on db.
func NewScheduleStore(db *DB) *ScheduleStore { return &ScheduleStore{db: db} }

func scheduleBody(s flotilla.Schedule) ([]byte, error) {
	s.NextFireTimes = nil
	s.LastFireTime = nil
	return json.Marshal(s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateSchedule implements flotilla.ScheduleStore.
func (s *ScheduleStore) CreateSchedule(ctx context.Context, sch flotilla.Schedule) (flotilla.Schedule, error) {
	sch.Version = 1
	body, err := scheduleBody(sch)
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("create schedule %s: %w", sch.ID, err)
	}
	var last any
	if sch.LastFireTime != nil {
		last = sch.LastFireTime.UnixNano()
	}
	_, err = s.db.write.ExecContext(ctx, `INSERT INTO schedules(id, definition, owner, enabled, version, last_fire_time, body) VALUES (?,?,?,?,?,?,?)`,
		sch.ID, sch.Definition, sch.Owner, boolInt(sch.Enabled), sch.Version, last, body)
	if isUniqueViolation(err) {
		return flotilla.Schedule{}, fmt.Errorf("create schedule %s: the id exists: %w", sch.ID, flotilla.ErrConflict)
	}
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("create schedule %s: %w", sch.ID, err)
	}
	sch.NextFireTimes = nil
	return sch, nil
}

// GetSchedule implements flotilla.ScheduleStore.
func (s *ScheduleStore) GetSchedule(ctx context.Context, id string) (flotilla.Schedule, error) {
	var body []byte
	var last sql.NullInt64
	err := s.db.read.QueryRowContext(ctx, `SELECT body, last_fire_time FROM schedules WHERE id=?`, id).Scan(&body, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return flotilla.Schedule{}, notFound("schedule", id)
	}
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("get schedule %s: %w", id, err)
	}
	return decodeSchedule(body, last)
}

func decodeSchedule(body []byte, last sql.NullInt64) (flotilla.Schedule, error) {
	var sch flotilla.Schedule
	if err := json.Unmarshal(body, &sch); err != nil {
		return flotilla.Schedule{}, fmt.Errorf("decode schedule: %w", err)
	}
	if last.Valid {
		t := time.Unix(0, last.Int64).UTC()
		sch.LastFireTime = &t
	}
	return sch, nil
}

// ListSchedules implements flotilla.ScheduleStore: id order, cursor = last id.
func (s *ScheduleStore) ListSchedules(ctx context.Context, f flotilla.ScheduleFilter) (flotilla.Page[flotilla.Schedule], error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Definition != "" {
		add(`definition = ?`, f.Definition)
	}
	if f.Owner != "" {
		add(`owner = ?`, f.Owner)
	}
	if f.Enabled != nil {
		add(`enabled = ?`, boolInt(*f.Enabled))
	}
	if f.NextToken != "" {
		after, err := decodeCursor(cursorSchedules, f.NextToken)
		if err != nil {
			return flotilla.Page[flotilla.Schedule]{}, err
		}
		add(`id > ?`, after)
	}
	limit := clampLimit(f.Limit)
	q := `SELECT id, body, last_fire_time FROM schedules`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit+1)
	rows, err := s.db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return flotilla.Page[flotilla.Schedule]{}, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	page := flotilla.Page[flotilla.Schedule]{Items: []flotilla.Schedule{}}
	for rows.Next() {
		var id string
		var body []byte
		var last sql.NullInt64
		if err := rows.Scan(&id, &body, &last); err != nil {
			return flotilla.Page[flotilla.Schedule]{}, fmt.Errorf("list schedules: %w", err)
		}
		if len(page.Items) == limit {
			page.NextToken = encodeCursor(cursorSchedules, page.Items[limit-1].ID)
			break
		}
		sch, err := decodeSchedule(body, last)
		if err != nil {
			return flotilla.Page[flotilla.Schedule]{}, fmt.Errorf("list schedules: %s: %w", id, err)
		}
		page.Items = append(page.Items, sch)
	}
	if err := rows.Err(); err != nil {
		return flotilla.Page[flotilla.Schedule]{}, fmt.Errorf("list schedules: %w", err)
	}
	return page, nil
}

// UpdateSchedule implements flotilla.ScheduleStore.
func (s *ScheduleStore) UpdateSchedule(ctx context.Context, sch flotilla.Schedule) (flotilla.Schedule, error) {
	body, err := scheduleBody(sch)
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("update schedule %s: %w", sch.ID, err)
	}
	var last sql.NullInt64
	err = s.db.write.QueryRowContext(ctx, `UPDATE schedules SET definition=?, owner=?, enabled=?, version=?, body=?
		WHERE id=? AND version=? RETURNING last_fire_time`,
		sch.Definition, sch.Owner, boolInt(sch.Enabled), sch.Version, body, sch.ID, sch.Version-1).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return flotilla.Schedule{}, fmt.Errorf("update schedule %s: %w", sch.ID, s.missingOrConflict(ctx, sch.ID,
			fmt.Sprintf("version %d is not the next one", sch.Version)))
	}
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("update schedule %s: %w", sch.ID, err)
	}
	out, err := decodeSchedule(body, last)
	if err != nil {
		return flotilla.Schedule{}, fmt.Errorf("update schedule %s: %w", sch.ID, err)
	}
	return out, nil
}

// missingOrConflict explains why a conditional write to a schedule changed
// nothing: it does not exist, or its condition failed.
func (s *ScheduleStore) missingOrConflict(ctx context.Context, id, why string) error {
	var one int
	err := s.db.write.QueryRowContext(ctx, `SELECT 1 FROM schedules WHERE id=?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("schedule", id)
	case err != nil:
		return err
	}
	return fmt.Errorf("%s: %w", why, flotilla.ErrConflict)
}

// DeleteSchedule implements flotilla.ScheduleStore.
func (s *ScheduleStore) DeleteSchedule(ctx context.Context, id string) error {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM schedules WHERE id=?`, id)
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("schedule", id)
	}
	return nil
}

// RecordFire implements flotilla.ScheduleStore.
func (s *ScheduleStore) RecordFire(ctx context.Context, id string, at time.Time) error {
	ns := at.UnixNano()
	res, err := s.db.write.ExecContext(ctx, `UPDATE schedules SET last_fire_time=? WHERE id=? AND (last_fire_time IS NULL OR last_fire_time < ?)`, ns, id, ns)
	if err != nil {
		return fmt.Errorf("record fire of schedule %s at %s: %w", id, at.UTC().Format(time.RFC3339), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("record fire of schedule %s: %w", id, s.missingOrConflict(ctx, id,
			fmt.Sprintf("a fire at or after %s is already recorded", at.UTC().Format(time.RFC3339))))
	}
	return nil
}
