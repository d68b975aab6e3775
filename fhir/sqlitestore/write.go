package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/oncofhir/oncofhir/fhir"
)

// writeStmts are prepared once on the writer connection.
type writeStmts struct {
	read          *sql.Stmt // readSQL, inside the unit of work
	insertCurrent *sql.Stmt
	updateCurrent *sql.Stmt
	insertHistory *sql.Stmt
	deleteTokens  *sql.Stmt
	insertToken   *sql.Stmt
	deleteIx      []*sql.Stmt // one per index table
	// inserts[t][k-1] inserts k rows into index table t (see insertStmt).
	inserts [numTables][maxInsertRows]*sql.Stmt
	ledger  ledgerStmts
	conn    *sql.Conn
}

const (
	// A first version: nothing may be there yet.
	insertCurrentSQL = `INSERT INTO resource (type, id, version, last_updated, ord, deleted, method, json)
		VALUES (?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT (type, id) DO NOTHING`
	// A later version: the current one must be the version before it.
	updateCurrentSQL = `UPDATE resource SET version = ?, last_updated = ?, ord = max(ord, ?), deleted = ?, method = ?, json = ?
		WHERE type = ? AND id = ? AND version = ? RETURNING ord`
	insertHistorySQL = `INSERT INTO history (type, id, version, last_updated, ord, deleted, method, json)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	deleteTokensSQL = `DELETE FROM token WHERE type = ? AND id = ?`
	insertTokenSQL  = `INSERT OR IGNORE INTO token (param, code, type, id, system) VALUES (?, ?, ?, ?, ?)`
)

type preparation struct {
	st  **sql.Stmt
	sql string
}

func (w *writeStmts) preparations() []preparation {
	ps := []preparation{
		{&w.read, readSQL},
		{&w.insertCurrent, insertCurrentSQL},
		{&w.updateCurrent, updateCurrentSQL},
		{&w.insertHistory, insertHistorySQL},
		{&w.deleteTokens, deleteTokensSQL},
		{&w.insertToken, insertTokenSQL},
	}
	if w.deleteIx == nil {
		w.deleteIx = make([]*sql.Stmt, len(indexTables))
	}
	for i, tab := range indexTables {
		ps = append(ps, preparation{&w.deleteIx[i], `DELETE FROM ` + tab.name + ` WHERE type = ? AND id = ?`})
	}
	return ps
}

func (w *writeStmts) prepare(ctx context.Context, c *sql.Conn) error {
	w.conn = c
	for _, p := range w.preparations() {
		st, err := c.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

func (w *writeStmts) close() error {
	var errs []error
	for _, p := range w.preparations() {
		if *p.st != nil {
			errs = append(errs, (*p.st).Close())
		}
	}
	for _, sts := range w.inserts {
		for _, st := range sts {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
	}
	errs = append(errs, w.ledger.close())
	return errors.Join(errs...)
}

var errUnitEnded = errors.New("sqlitestore: the unit of work has ended")

// tx is the unit of work handed to fn. It is not safe for concurrent use.
//
// Statements run without the unit's context: SQLite answers an interrupted
// write by rolling back the whole transaction, which may hold other units
// of the batch. The context is checked before each operation instead.
type tx struct {
	s   *Store
	ctx context.Context
	// err, once set, is a failure that may have left part of a Put in the
	// transaction (or the transaction ended by SQLite): the unit can no
	// longer commit, whatever fn does next.
	err error
	// The ledger entries put, stored by flushLedger before the unit
	// ends or reads.
	ledger    []ledgerRow
	ledgerIDs map[string]bool
}

func (t *tx) Read(typ, id string) (*fhir.Resource, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	var res *fhir.Resource
	var err error
	if fhir.IsLedger(typ) {
		if err := t.flushLedger(); err != nil {
			return nil, err
		}
		res, err = readLedger(context.Background(), t.s.wconn, typ, id)
	} else {
		res, err = scanOne(t.s.w.read.QueryRowContext(context.Background(), typ, id), typ, id)
	}
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlitestore: read %s/%s: %w", typ, id, fhir.ErrNotFound)
		}
		return nil, t.abort(t.s.fail("read "+typ+"/"+id, err))
	}
	return res, nil
}

func (t *tx) Search(q fhir.Query) ([]*fhir.Resource, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if err := t.flushLedger(); err != nil {
		return nil, err
	}
	res, err := search(context.Background(), t.s.wconn, q)
	if err != nil {
		return nil, t.abort(t.s.fail("search", err))
	}
	return res, nil
}

// Put stores res as the next version. The current row is updated first,
// under the condition that it holds the version before res.Version: when
// that matches no row, nothing has been written and the Put fails with
// fhir.ErrVersionConflict, leaving the unit usable.
func (t *tx) Put(res *fhir.Resource) error {
	if err := t.check(); err != nil {
		return err
	}
	if res.Type == "" || res.ID == "" {
		return fmt.Errorf("sqlitestore: put: resource type and id are required")
	}
	if err := checkIndex(res.Index); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", t.what(res), err)
	}
	if fhir.IsLedger(res.Type) {
		return t.putLedger(res)
	}
	ctx, w := context.Background(), &t.s.w
	lu, del := toMicros(res.LastUpdated), 0
	if res.Deleted {
		del = 1
	}
	ord := lu
	switch {
	case res.Version == 1:
		r, err := w.insertCurrent.ExecContext(ctx, res.Type, res.ID, lu, lu, del, res.Method, res.JSON)
		if err != nil {
			return t.abort(t.s.fail(t.what(res), err))
		}
		if n, err := r.RowsAffected(); err != nil {
			return t.abort(t.s.fail(t.what(res), err))
		} else if n == 0 {
			return t.conflict(res)
		}
	case res.Version > 1:
		err := w.updateCurrent.QueryRowContext(ctx, res.Version, lu, lu, del, res.Method, res.JSON,
			res.Type, res.ID, res.Version-1).Scan(&ord)
		if errors.Is(err, sql.ErrNoRows) {
			return t.conflict(res)
		}
		if err != nil {
			return t.abort(t.s.fail(t.what(res), err))
		}
	default:
		return t.conflict(res)
	}
	// From here on a failure leaves part of the version in the transaction.
	if _, err := w.insertHistory.ExecContext(ctx, res.Type, res.ID, res.Version, lu, ord, del, res.Method, res.JSON); err != nil {
		return t.abort(t.s.fail(t.what(res), err))
	}
	if res.Version > 1 {
		if _, err := w.deleteTokens.ExecContext(ctx, res.Type, res.ID); err != nil {
			return t.abort(t.s.fail(t.what(res), err))
		}
		if err := w.deleteIndex(ctx, res.Type, res.ID); err != nil {
			return t.abort(t.s.fail(t.what(res), err))
		}
	}
	for _, tok := range res.Tokens {
		if _, err := w.insertToken.ExecContext(ctx, tok.Param, tok.Code, res.Type, res.ID, tok.System); err != nil {
			return t.abort(t.s.fail(t.what(res), err))
		}
	}
	if !res.Deleted { // a deletion has nothing to find
		if err := w.insertIndex(ctx, res); err != nil {
			return t.abort(t.s.fail(t.what(res), err))
		}
	}
	return nil
}

func (t *tx) what(res *fhir.Resource) string {
	return fmt.Sprintf("put %s/%s version %d", res.Type, res.ID, res.Version)
}

func (t *tx) conflict(res *fhir.Resource) error {
	return fmt.Errorf("sqlitestore: %s: %w", t.what(res), fhir.ErrVersionConflict)
}

// check returns the error that ended the unit, if any; a unit whose
// context has ended fails.
func (t *tx) check() error {
	if t.err == nil && t.ctx.Err() != nil {
		t.err = fmt.Errorf("sqlitestore: write: %w", t.ctx.Err())
	}
	return t.err
}

// abort marks the unit as failed and returns err.
func (t *tx) abort(err error) error {
	t.err = err
	return err
}
