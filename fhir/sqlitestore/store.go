package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/oncofhir/oncofhir/fhir"
)

// FileName is the name of the database file Open keeps in its directory.
const FileName = "fhir.db"

// schemaVersion is stored in PRAGMA user_version. Version 1 was a
// pre-release layout without the order column; no release ever wrote it.
// Version 2 had no search index tables: its resources carry no index
// entries, and only the writer that extracts them (an import) can add
// them, so a version 2 file is refused rather than upgraded. Tables added
// since (the records, see records.go) are created by Open when missing,
// which needs no new version: an older server of version 3 ignores them.
const schemaVersion = 3

// schema creates the tables on a new database. Times are Unix microseconds;
// deleted is 0 or 1; json is NULL for a deletion.
//
// ord is the time a version sorts by in history: its LastUpdated, or the
// ord of the version it replaced if that is later (two writers took the
// time, then the later time committed first), so that history is newest
// first by LastUpdated and, for one resource, by version. seq breaks ties
// in the order of writes.
//
// The token lookup key starts with (param, code): a search always names
// both, and with type after them the same key serves searches of one type
// and searches across all types (Query.Type ""). A WITHOUT ROWID table keeps
// each entry in that one b-tree instead of a table plus an index.
const schema = `
CREATE TABLE IF NOT EXISTS resource (
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	ord          INTEGER NOT NULL,
	deleted      INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	json         BLOB,
	PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS history (
	seq          INTEGER PRIMARY KEY,
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	ord          INTEGER NOT NULL,
	deleted      INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	json         BLOB,
	UNIQUE (type, id, version)
);
CREATE INDEX IF NOT EXISTS history_order ON history (ord, seq);
CREATE INDEX IF NOT EXISTS history_type ON history (type, ord, seq);
CREATE TABLE IF NOT EXISTS token (
	param  TEXT NOT NULL,
	code   TEXT NOT NULL,
	type   TEXT NOT NULL,
	id     TEXT NOT NULL,
	system TEXT NOT NULL,
	PRIMARY KEY (param, code, type, id, system)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS token_owner ON token (type, id);
` + indexSchema + recordSchema + ledgerSchema

// Store is the SQLite engine. It is safe for concurrent use.
type Store struct {
	wdb   *sql.DB   // holds the one writer connection
	wconn *sql.Conn // the writer connection, kept for the life of the store
	rdb   *sql.DB   // read-only connections

	// wsem is held by whoever uses the writer connection: the unit of work
	// in progress, a flush, Close. A channel rather than a mutex so that a
	// writer waiting for its turn can give up when its context ends.
	wsem    chan struct{}
	waiting atomic.Int32 // writers waiting for wsem
	batch   *batch       // the open transaction, if any (guarded by wsem)
	commits atomic.Int64 // transactions committed by Write
	closed  atomic.Bool

	read, vread *sql.Stmt  // on rdb
	queries     *stmtCache // search and history, on rdb
	w           writeStmts
	rec         recordStmts   // see records.go
	ckpt        *checkpointer // see checkpoint.go
}

var _ fhir.Store = (*Store)(nil)

// errClosed answers every call made after Close.
var errClosed = fmt.Errorf("sqlitestore: store is closed: %w", fhir.ErrUnavailable)

// Open opens (creating if needed) the database in dir, creating dir too.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	s := &Store{wsem: make(chan struct{}, 1)}
	if err := s.open(path); err != nil {
		s.closeAll()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, translate(err))
	}
	return s, nil
}

// Durability: in WAL mode with synchronous=NORMAL, SQLite does not sync the
// WAL when a transaction commits, only at checkpoints, so a transaction
// whose COMMIT has returned (and which the server has acknowledged) can
// vanish if the machine loses power before the next checkpoint. FULL syncs
// the WAL at every commit: once Write returns nil the unit survives a crash
// of the process and of the machine.
//
// busy_timeout lets a writer wait for another process holding the write
// lock (a CLI command beside the server) instead of failing at once.
// Foreign keys stay off: the schema declares none.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Add("_pragma", "cache_size(-16000)") // 16 MB per connection
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "journal_size_limit(67108864)") // 64 MB left after a checkpoint
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", backstopPages))
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

func (s *Store) open(path string) error {
	ctx := context.Background()
	var err error
	if s.wdb, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		return err
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if s.wconn, err = s.wdb.Conn(ctx); err != nil {
		return err
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.w.prepare(ctx, s.wconn); err != nil {
		return err
	}

	if s.rdb, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		return err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.rdb.SetMaxOpenConns(n)
	s.rdb.SetMaxIdleConns(n)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if s.read, err = s.rdb.PrepareContext(ctx, readSQL); err != nil {
		return err
	}
	if s.vread, err = s.rdb.PrepareContext(ctx, vreadSQL); err != nil {
		return err
	}
	s.queries = newStmtCache(s.rdb)
	if err := s.rec.prepare(ctx, s.rdb, s.wconn); err != nil {
		return err
	}
	s.ckpt, err = startCheckpointer(path)
	return err
}

// migrate creates the schema in a new database and refuses one written by
// a newer schema.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := func() error {
		var v int
		if err := s.wconn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		if v > schemaVersion {
			return fmt.Errorf("database schema version %d is newer than this server's (%d)", v, schemaVersion)
		}
		switch {
		case v == 2:
			return fmt.Errorf("database schema version 2 has no search index (this server needs version %d); "+
				"move the file away and import the data again", schemaVersion)
		case v != 0 && v < schemaVersion:
			return fmt.Errorf("database schema version %d was never released; move the file away to start afresh", v)
		}
		if _, err := s.wconn.ExecContext(ctx, schema); err != nil {
			return err
		}
		_, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	}()
	if err != nil {
		s.rollback()
		return err
	}
	_, err = s.wconn.ExecContext(ctx, "COMMIT")
	return err
}

// Close waits for the unit of work in progress, if any, commits what
// units are waiting for a commit, and releases the database. Calls after Close answer an error wrapping fhir.ErrUnavailable.
func (s *Store) Close() error {
	s.wsem <- struct{}{}
	defer func() { <-s.wsem }()
	if s.closed.Load() {
		return nil
	}
	if b := s.batch; b != nil { // its units are waiting for the commit
		s.commitBatch(b)
	}
	s.closed.Store(true)
	if err := s.closeAll(); err != nil {
		return fmt.Errorf("sqlitestore: close: %w", translate(err))
	}
	return nil
}

func (s *Store) closeAll() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.read, s.vread} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.queries != nil {
		errs = append(errs, s.queries.close())
	}
	errs = append(errs, s.w.close(), s.rec.close())
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	return errors.Join(errs...)
}
