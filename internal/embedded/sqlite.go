package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/flotilla-run/flotilla/internal/flotilla"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is the embedded SQLite database: one writer connection (SQLite allows
// one writer at a time; a single connection serialises writers without
// SQLITE_BUSY retries) and a pool of readers (WAL lets them read while the
// writer writes).
type DB struct {
	write *sql.DB
	read  *sql.DB
	path  string

	writer    *writer
	readStmts stmts
}

// OpenDB opens (creating when missing) the database in dir and migrates it.
func OpenDB(ctx context.Context, dir string) (*DB, error) {
	if err := PrepareDataDir(dir); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	path := filepath.Join(dir, "flotilla.db")
	// Created here 0600 before SQLite opens it: SQLite gives its WAL and
	// shared-memory files the database file's permissions.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	f.Close()
	dsn := func(mode string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(1)"} {
			q.Add("_pragma", p)
		}
		if mode != "" {
			q.Set("mode", mode)
		}
		q.Set("_txlock", "immediate")
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	db := &DB{write: w, path: path}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("ro"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db.read = r
	// One connection of the write pool is the writer for good; the pool
	// keeps a second for callers that use it directly.
	w.SetMaxOpenConns(2)
	wc, err := w.Conn(ctx)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.writer = &writer{c: wc, stmts: map[string]*sql.Stmt{}}
	db.readStmts.pool = r
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.writer.mu.Lock()
	defer db.writer.mu.Unlock()
	return errors.Join(db.writer.c.Close(), db.read.Close(), db.write.Close())
}

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// migrations are applied in order; PRAGMA user_version records how many ran.
// Never edit one that has shipped: add a new one.
var migrations = []string{
	`CREATE TABLE definitions (
		id TEXT PRIMARY KEY,
		alias TEXT NOT NULL UNIQUE,
		group_name TEXT NOT NULL,
		image TEXT NOT NULL,
		revision INTEGER NOT NULL,
		body TEXT NOT NULL
	);
	CREATE INDEX definitions_group ON definitions(group_name, alias);
	CREATE TABLE definition_revisions (
		id TEXT NOT NULL,
		revision INTEGER NOT NULL,
		body TEXT NOT NULL,
		PRIMARY KEY (id, revision)
	) WITHOUT ROWID;
	CREATE TABLE definition_tags (
		tag TEXT NOT NULL,
		id TEXT NOT NULL,
		PRIMARY KEY (tag, id)
	) WITHOUT ROWID;
	CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		cluster TEXT NOT NULL,
		status TEXT NOT NULL,
		definition_id TEXT NOT NULL,
		owner TEXT NOT NULL,
		schedule_id TEXT NOT NULL,
		queued_at INTEGER NOT NULL,
		idempotency_key TEXT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE UNIQUE INDEX runs_idempotency ON runs(owner, idempotency_key) WHERE idempotency_key <> '';
	CREATE INDEX runs_status ON runs(status, id);
	CREATE INDEX runs_cluster_status ON runs(cluster, status, id);
	CREATE INDEX runs_cluster_status_owner ON runs(cluster, status, owner, id);
	CREATE INDEX runs_definition_status ON runs(definition_id, status, id);
	CREATE INDEX runs_owner ON runs(owner, id);
	CREATE INDEX runs_schedule ON runs(schedule_id, id) WHERE schedule_id <> '';
	CREATE INDEX runs_queued_at ON runs(queued_at);
	CREATE TABLE run_tags (
		tag TEXT NOT NULL,
		run_id TEXT NOT NULL,
		PRIMARY KEY (tag, run_id)
	) WITHOUT ROWID;
	CREATE TABLE run_events (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		run_id TEXT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE INDEX run_events_run ON run_events(run_id, seq);
	CREATE TABLE slots (
		cluster TEXT NOT NULL,
		owner TEXT NOT NULL,
		used INTEGER NOT NULL CHECK (used >= 0),
		PRIMARY KEY (cluster, owner)
	) WITHOUT ROWID;
	CREATE TABLE queue_messages (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		cluster TEXT NOT NULL,
		group_id TEXT NOT NULL,
		body TEXT NOT NULL,
		visible_at INTEGER NOT NULL,
		receipt TEXT NOT NULL,
		receive_count INTEGER NOT NULL
	);
	CREATE INDEX queue_messages_cluster ON queue_messages(cluster, seq);
	CREATE INDEX queue_messages_group ON queue_messages(cluster, group_id, seq);
	CREATE TABLE queue_dedup (
		cluster TEXT NOT NULL,
		dedup_id TEXT NOT NULL,
		sent_at INTEGER NOT NULL,
		PRIMARY KEY (cluster, dedup_id)
	) WITHOUT ROWID;`,
	// 2: schedules. last_fire_time (Unix nanoseconds, NULL before the first
	// fire) lives outside body so that updates never overwrite it.
	`CREATE TABLE schedules (
		id TEXT PRIMARY KEY,
		definition TEXT NOT NULL,
		owner TEXT NOT NULL,
		enabled INTEGER NOT NULL,
		version INTEGER NOT NULL,
		last_fire_time INTEGER,
		body TEXT NOT NULL
	);
	CREATE INDEX schedules_definition ON schedules(definition, id);
	CREATE INDEX schedules_owner ON schedules(owner, id);`,
	// 3: pipelines. A run's parent gets a column (filled in from the runs
	// stored before, which kept it only in body), indexed for a parent's
	// children and for those in some statuses (an array's stop);
	// child_counts counts each parent's children by status, and
	// child_failures holds a bit per array index that ended FAILED or
	// STOPPED, both changed in the same transaction as each child, so an
	// array's summary is two small reads however many children failed;
	// run_after lists what each WAITING run waits for, by what it waits
	// for; array_elements keeps arrays' items.
	`ALTER TABLE runs ADD COLUMN parent TEXT NOT NULL DEFAULT '';
	UPDATE runs SET parent = json_extract(body, '$.parent') WHERE json_extract(body, '$.parent') IS NOT NULL;
	CREATE INDEX runs_parent ON runs(parent, id) WHERE parent <> '';
	CREATE INDEX runs_parent_status ON runs(parent, status, id) WHERE parent <> '';
	CREATE TABLE child_counts (
		parent TEXT NOT NULL,
		status TEXT NOT NULL,
		n INTEGER NOT NULL CHECK (n >= 0),
		PRIMARY KEY (parent, status)
	) WITHOUT ROWID;
	INSERT INTO child_counts(parent, status, n) SELECT parent, status, count(*) FROM runs WHERE parent <> '' GROUP BY parent, status;
	CREATE TABLE child_failures (
		parent TEXT PRIMARY KEY,
		bits BLOB NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE run_after (
		dep_id TEXT NOT NULL,
		run_id TEXT NOT NULL,
		PRIMARY KEY (dep_id, run_id)
	) WITHOUT ROWID;
	CREATE TABLE array_elements (
		parent TEXT NOT NULL,
		seq INTEGER NOT NULL,
		body TEXT NOT NULL,
		PRIMARY KEY (parent, seq)
	) WITHOUT ROWID;`,
}

func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("migrate: database %s is at schema version %d, newer than this flotilla (%d)", db.path, version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate: step %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return tx.Commit()
}

// isUniqueViolation reports a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func notFound(what, ref string) error {
	return fmt.Errorf("%s %s: %w", what, ref, flotilla.ErrNotFound)
}

// likeEscape escapes s for a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// stmts caches prepared statements of the read pool: parsing SQL was a
// sixth of a launch's CPU before.
type stmts struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
}

func (c *stmts) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.pool.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st, nil
}

// writer is the one connection that writes, with its prepared statements.
// Its mutex serialises write transactions (SQLite has one writer anyway),
// so no transaction ever waits on SQLITE_BUSY behind another of ours.
type writer struct {
	mu    sync.Mutex
	c     *sql.Conn
	stmts map[string]*sql.Stmt
}

// conn runs cached statements: on the writer, inside its transaction, or
// on the read pool.
type conn struct {
	w    *writer
	read *stmts
}

func (c conn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if c.read != nil {
		return c.read.get(ctx, q)
	}
	if st, ok := c.w.stmts[q]; ok {
		return st, nil
	}
	st, err := c.w.c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.w.stmts[q] = st
	return st, nil
}

// ExecContext runs a cached statement.
func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs a cached query.
func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs a cached single-row query.
func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, q)
	if err != nil {
		// A Row that reports the preparation error from Scan.
		if c.read != nil {
			return c.read.pool.QueryRowContext(ctx, q, args...)
		}
		return c.w.c.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// reader runs cached statements on the read pool.
func (db *DB) reader() conn { return conn{read: &db.readStmts} }

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE … COMMIT) on the
// writer connection; an error from fn rolls it back. The transaction is not
// cut short by ctx: it commits or rolls back whole.
func (db *DB) writeTx(ctx context.Context, fn func(tx conn) error) error {
	w := db.writer
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if _, err := w.c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(conn{w: w}); err != nil {
		if _, rerr := w.c.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if _, err := w.c.ExecContext(ctx, "COMMIT"); err != nil {
		w.c.ExecContext(ctx, "ROLLBACK")
		return err
	}
	return nil
}
