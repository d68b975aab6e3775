package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

var _ fhir.Records = (*Store)(nil)

// recordSchema holds the fhir.Records documents (see Store.GetRecord).
// A record row carries its attributes as a JSON object too, so that a
// read is one lookup of the primary key; record_attr holds one row per
// attribute, keyed for FindRecords, which reads matches in key order
// straight from its primary key. expires is Unix microseconds,
// neverExpires for a record that does not expire. Both are created with
// IF NOT EXISTS: a version 3 file written before they existed gets them at
// Open.
const recordSchema = `
CREATE TABLE IF NOT EXISTS record (
	kind    TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	data    BLOB,
	attrs   TEXT,
	expires INTEGER NOT NULL,
	rev     INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_expires ON record (expires);
CREATE TABLE IF NOT EXISTS record_attr (
	kind  TEXT NOT NULL,
	name  TEXT NOT NULL,
	value TEXT NOT NULL,
	key   TEXT NOT NULL,
	PRIMARY KEY (kind, name, value, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_attr_owner ON record_attr (kind, key);
`

// neverExpires is the stored expiry of a record whose Expires is zero, so
// that "live" is one comparison, expires > now.
const neverExpires = math.MaxInt64

const (
	getRecordSQL = `SELECT data, attrs, expires, rev FROM record WHERE kind = ? AND key = ? AND expires > ?`
	// CROSS JOIN keeps record_attr outside: its key order is the order
	// asked for.
	findRecordsSQL = `SELECT r.data, r.attrs, r.expires, r.rev, r.key FROM record_attr AS a CROSS JOIN record AS r
		ON r.kind = a.kind AND r.key = a.key
		WHERE a.kind = ? AND a.name = ? AND a.value = ? AND r.expires > ? ORDER BY a.key`
	listRecordsSQL = `SELECT data, attrs, expires, rev, key FROM record WHERE kind = ? AND expires > ? ORDER BY key`

	revRecordSQL    = `SELECT rev, expires FROM record WHERE kind = ? AND key = ?`
	upsertRecordSQL = `INSERT INTO record (kind, key, data, attrs, expires, rev) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data, attrs = excluded.attrs,
		expires = excluded.expires, rev = excluded.rev`
	deleteRecordSQL = `DELETE FROM record WHERE kind = ? AND key = ?`
	deleteAttrsSQL  = `DELETE FROM record_attr WHERE kind = ? AND key = ?`
	insertAttrSQL   = `INSERT INTO record_attr (kind, name, value, key) VALUES (?, ?, ?, ?)`
	// The purge takes the oldest expired records, at most purgeBatch of
	// them, attributes first; both statements select the same rows.
	purgeAttrsSQL = `DELETE FROM record_attr WHERE (kind, key) IN
		(SELECT kind, key FROM record WHERE expires <= ? ORDER BY expires, kind, key LIMIT ?)`
	purgeRecordsSQL = `DELETE FROM record WHERE (kind, key) IN
		(SELECT kind, key FROM record WHERE expires <= ? ORDER BY expires, kind, key LIMIT ?)`
)

// Expired records are purged by writes: a PutRecord deletes up to
// purgeBatch of them in its own unit of work, at most once every
// purgeEvery unless the last purge found a full batch.
const (
	purgeEvery = time.Minute
	purgeBatch = 256
)

// recordStmts are the prepared statements of the records: reads on the
// read pool, writes on the writer connection.
type recordStmts struct {
	get, find, list                                     *sql.Stmt    // rdb
	rev, upsert, del, delAttrs, insAttr, purgeA, purgeR *sql.Stmt    // wconn
	lastPurge                                           atomic.Int64 // Unix microseconds
}

func (r *recordStmts) reads() []preparation {
	return []preparation{{&r.get, getRecordSQL}, {&r.find, findRecordsSQL}, {&r.list, listRecordsSQL}}
}

func (r *recordStmts) writes() []preparation {
	return []preparation{
		{&r.rev, revRecordSQL}, {&r.upsert, upsertRecordSQL}, {&r.del, deleteRecordSQL},
		{&r.delAttrs, deleteAttrsSQL}, {&r.insAttr, insertAttrSQL},
		{&r.purgeA, purgeAttrsSQL}, {&r.purgeR, purgeRecordsSQL},
	}
}

// prepare prepares the reads on rdb and the writes on wconn.
func (r *recordStmts) prepare(ctx context.Context, rdb *sql.DB, wconn *sql.Conn) error {
	for _, p := range r.reads() {
		st, err := rdb.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.st = st
	}
	for _, p := range r.writes() {
		st, err := wconn.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

func (r *recordStmts) close() error {
	var errs []error
	for _, p := range append(r.reads(), r.writes()...) {
		if *p.st != nil {
			errs = append(errs, (*p.st).Close())
		}
	}
	return errors.Join(errs...)
}

// GetRecord returns the live record kind/key, or fhir.ErrNotFound: one
// lookup of the primary key through a prepared statement. Keys stay out of
// error messages: some are token signatures.
func (s *Store) GetRecord(ctx context.Context, kind, key string) (*fhir.Record, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	r := &fhir.Record{Kind: kind, Key: key}
	err := scanRecord(s.rec.get.QueryRowContext(ctx, kind, key, time.Now().UnixMicro()), r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlitestore: get record %s: %w", kind, fhir.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail("get record "+kind, err)
	}
	return r, nil
}

// scanRecord reads data, attrs, expires and rev into r, and the columns
// after them into extra.
func scanRecord(sc scanner, r *fhir.Record, extra ...any) error {
	var attrs sql.NullString
	var expires int64
	if err := sc.Scan(append([]any{&r.Data, &attrs, &expires, &r.Rev}, extra...)...); err != nil {
		return err
	}
	if attrs.Valid {
		if err := json.Unmarshal([]byte(attrs.String), &r.Attrs); err != nil {
			return fmt.Errorf("attributes: %w", err)
		}
	}
	if expires != neverExpires {
		r.Expires = fromMicros(expires)
	}
	return nil
}

// FindRecords returns the live records of kind whose attribute name has
// value, or all live records of kind when name is "", ordered by key.
func (s *Store) FindRecords(ctx context.Context, kind, name, value string) ([]*fhir.Record, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	now := time.Now().UnixMicro()
	var rows *sql.Rows
	var err error
	if name == "" {
		rows, err = s.rec.list.QueryContext(ctx, kind, now)
	} else {
		rows, err = s.rec.find.QueryContext(ctx, kind, name, value, now)
	}
	if err != nil {
		return nil, s.fail("find records "+kind, err)
	}
	defer rows.Close()
	var out []*fhir.Record
	for rows.Next() {
		r := &fhir.Record{Kind: kind}
		if err := scanRecord(rows, r, &r.Key); err != nil {
			return nil, s.fail("find records "+kind, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("find records "+kind, err)
	}
	return out, nil
}

// PutRecord creates (rec.Rev 0) or replaces (rec.Rev the stored revision)
// the record, as a unit of work of Write: serialised with every other
// write and durable when it returns. Like Write, it must not be called
// from inside a unit of work: it would wait for that unit to end.
func (s *Store) PutRecord(ctx context.Context, rec *fhir.Record) error {
	if rec == nil || rec.Kind == "" || rec.Key == "" {
		return errors.New("sqlitestore: put record: kind and key are required")
	}
	var attrs any // NULL without attributes
	if len(rec.Attrs) > 0 {
		b, err := json.Marshal(rec.Attrs)
		if err != nil {
			return fmt.Errorf("sqlitestore: put record %s: %w", rec.Kind, err)
		}
		attrs = string(b)
	}
	expires := int64(neverExpires)
	if !rec.Expires.IsZero() {
		expires = rec.Expires.UnixMicro()
	}
	var rev int64
	err := s.unit(ctx, "put record "+rec.Kind, func(now int64) error {
		var have, haveExpires int64
		err := s.rec.rev.QueryRow(rec.Kind, rec.Key).Scan(&have, &haveExpires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			have, haveExpires = 0, 0
		case err != nil:
			return err
		}
		live := have > 0 && haveExpires > now
		switch {
		case rec.Rev == 0 && live, rec.Rev != 0 && (!live || rec.Rev != have):
			return fmt.Errorf("sqlitestore: put record %s revision %d: %w", rec.Kind, rec.Rev, fhir.ErrVersionConflict)
		}
		// A create that replaces an expired record goes on from its
		// revision, so that no holder of the old one can update the new.
		rev = have + 1
		if _, err := s.rec.upsert.Exec(rec.Kind, rec.Key, rec.Data, attrs, expires, rev); err != nil {
			return err
		}
		if have > 0 {
			if _, err := s.rec.delAttrs.Exec(rec.Kind, rec.Key); err != nil {
				return err
			}
		}
		for name, value := range rec.Attrs {
			if _, err := s.rec.insAttr.Exec(rec.Kind, name, value, rec.Key); err != nil {
				return err
			}
		}
		return s.purgeRecords(now)
	})
	if err != nil {
		return err
	}
	rec.Rev = rev
	return nil
}

// DeleteRecord removes the record and its attributes, as a unit of work.
func (s *Store) DeleteRecord(ctx context.Context, kind, key string) error {
	return s.unit(ctx, "delete record "+kind, func(int64) error {
		if _, err := s.rec.del.Exec(kind, key); err != nil {
			return err
		}
		_, err := s.rec.delAttrs.Exec(kind, key)
		return err
	})
}

// unit runs fn as a unit of work of Write, on the writer connection, with
// the time in Unix microseconds. Like those of tx, fn's statements run
// without the unit's context (see tx).
func (s *Store) unit(ctx context.Context, op string, fn func(now int64) error) error {
	return s.Write(ctx, func(ftx fhir.Tx) error {
		t := ftx.(*tx)
		if err := t.check(); err != nil {
			return err
		}
		if err := fn(time.Now().UnixMicro()); err != nil {
			var fe *fhir.Error
			if errors.As(err, &fe) {
				return err
			}
			return t.abort(s.fail(op, err))
		}
		return nil
	})
}

// purgeRecords deletes expired records if it is time to (see purgeEvery).
func (s *Store) purgeRecords(now int64) error {
	last := s.rec.lastPurge.Load()
	if now-last < purgeEvery.Microseconds() || !s.rec.lastPurge.CompareAndSwap(last, now) {
		return nil
	}
	if _, err := s.rec.purgeA.Exec(now, purgeBatch); err != nil {
		return err
	}
	r, err := s.rec.purgeR.Exec(now, purgeBatch)
	if err != nil {
		return err
	}
	if n, err := r.RowsAffected(); err == nil && n == purgeBatch {
		s.rec.lastPurge.Store(0) // more to do: the next write goes on
	}
	return nil
}
