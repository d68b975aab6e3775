package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	readSQL  = `SELECT version, last_updated, deleted, method, json FROM resource WHERE type = ? AND id = ?`
	vreadSQL = `SELECT version, last_updated, deleted, method, json FROM history WHERE type = ? AND id = ? AND version = ?`
)

// Read returns the current version of typ/id.
func (s *Store) Read(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	var res *fhir.Resource
	var err error
	if fhir.IsLedger(typ) {
		res, err = readLedger(ctx, s.queries, typ, id)
	} else {
		res, err = scanOne(s.read.QueryRowContext(ctx, typ, id), typ, id)
	}
	if err != nil {
		return nil, s.readErr("read", typ, id, err)
	}
	return res, nil
}

// VRead returns one version of typ/id.
func (s *Store) VRead(ctx context.Context, typ, id string, version int) (*fhir.Resource, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	var res *fhir.Resource
	var err error
	switch {
	case fhir.IsLedger(typ) && version == 1:
		res, err = readLedger(ctx, s.queries, typ, id)
	case fhir.IsLedger(typ):
		err = sql.ErrNoRows
	default:
		res, err = scanOne(s.vread.QueryRowContext(ctx, typ, id, version), typ, id)
	}
	if err != nil {
		return nil, s.readErr(fmt.Sprintf("vread version %d of", version), typ, id, err)
	}
	return res, nil
}

func (s *Store) readErr(op, typ, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlitestore: %s %s/%s: %w", op, typ, id, fhir.ErrNotFound)
	}
	return s.fail(op+" "+typ+"/"+id, err)
}

// scanOne reads the columns of readSQL/vreadSQL into a Resource.
func scanOne(row *sql.Row, typ, id string) (*fhir.Resource, error) {
	res := &fhir.Resource{Type: typ, ID: id}
	var lu int64
	if err := row.Scan(&res.Version, &lu, &res.Deleted, &res.Method, &res.JSON); err != nil {
		return nil, err
	}
	res.LastUpdated = fromMicros(lu)
	return res, nil
}

const fullColumns = `type, id, version, last_updated, deleted, method, json`

// scanner is *sql.Rows or *sql.Row.
type scanner interface{ Scan(dest ...any) error }

// scanFull reads type, id, version, last_updated, deleted, method, json.
func scanFull(sc scanner, extra ...any) (*fhir.Resource, error) {
	res := &fhir.Resource{}
	var lu int64
	dest := append([]any{&res.Type, &res.ID, &res.Version, &lu, &res.Deleted, &res.Method, &res.JSON}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	res.LastUpdated = fromMicros(lu)
	return res, nil
}

// Times are stored as Unix microseconds: finer than the millisecond the
// server keeps, and wide enough for the zero time.
func toMicros(t time.Time) int64 { return t.UnixMicro() }

// ceilMicros is the first stored instant not before t: a bound "at or after
// t" compares a stored microsecond value against it.
func ceilMicros(t time.Time) int64 {
	m := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		m++
	}
	return m
}

func fromMicros(m int64) time.Time { return time.UnixMicro(m).UTC() }
