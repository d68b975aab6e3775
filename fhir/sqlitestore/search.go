package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/oncofhir/oncofhir/fhir"
)

// querier is the read pool (through its statement cache) or, inside a
// unit of work, the writer connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Search returns the current, not deleted resources matching q (see plan
// for how the query is built).
func (s *Store) Search(ctx context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	res, err := search(ctx, s.queries, q)
	if err != nil {
		return nil, s.fail("search", ctxErr(ctx, err))
	}
	return res, nil
}

// Count returns how many resources Search would return for q without its
// Offset and Limit.
func (s *Store) Count(ctx context.Context, q fhir.Query) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	n, err := count(ctx, s.queries, q)
	if err != nil {
		return 0, s.fail("count", ctxErr(ctx, err))
	}
	return n, nil
}

// ctxErr answers the context's error for a query its context ended: the
// driver may report the interruption as an SQLite error instead.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func search(ctx context.Context, db querier, q fhir.Query) ([]*fhir.Resource, error) {
	if fhir.IsLedger(q.Type) {
		b, err := searchLedger(ctx, db, q, false)
		if err != nil || b == nil {
			return nil, err
		}
		rows, err := db.QueryContext(ctx, b.text.String(), b.args...)
		if err != nil {
			return nil, err
		}
		rs, err := scanAll(rows)
		if err != nil {
			return nil, err
		}
		return unpackAll(rs)
	}
	p, err := newPlan(ctx, db, q)
	if err != nil {
		return nil, err
	}
	if p.walkable() {
		res, ok, err := p.walk(ctx, db)
		if ok || err != nil {
			return res, err
		}
	}
	b := p.sql(false)
	rows, err := db.QueryContext(ctx, b.text.String(), b.args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows)
}

// scanAll reads and closes rows of resultColumns.
func scanAll(rows *sql.Rows) ([]*fhir.Resource, error) {
	defer rows.Close()
	var out []*fhir.Resource
	for rows.Next() {
		res, err := scanFull(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, rows.Err()
}

func count(ctx context.Context, db querier, q fhir.Query) (int, error) {
	var b *sqlBuf
	if fhir.IsLedger(q.Type) {
		lb, err := searchLedger(ctx, db, q, true)
		if err != nil || lb == nil {
			return 0, err
		}
		b = lb
	} else {
		p, err := newPlan(ctx, db, q)
		if err != nil {
			return 0, err
		}
		b = p.sql(true)
	}
	rows, err := db.QueryContext(ctx, b.text.String(), b.args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

// snapshot calls fn with a querier whose queries all read one snapshot of
// the database: on the read pool, a read transaction on one connection;
// on the writer connection, its unit of work's transaction already is.
func snapshot(ctx context.Context, db querier, fn func(querier) error) error {
	if c, ok := db.(*stmtCache); ok {
		return c.snapshot(ctx, fn)
	}
	return fn(db)
}
