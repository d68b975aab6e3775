package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStmts bounds the statements stmtCache keeps. Search and history
// queries come in few shapes (the number of ids and tokens varies, the
// values are parameters); shapes beyond the bound are prepared each time.
const maxCachedStmts = 256

// stmtCache runs the search and history queries of the read pool through
// prepared statements kept by query text: preparing a statement costs
// SQLite about as much as running a search by identifier.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

// QueryContext runs query with args, like sql.DB.QueryContext.
func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// stmt is the cached statement of query, prepared on first use; nil once
// the cache is full.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stmts[query]
	if !ok && len(c.stmts) < maxCachedStmts {
		var err error
		if st, err = c.db.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		c.stmts[query] = st
	}
	return st, nil
}

// snapshot calls fn with a querier whose queries, through the same cached
// statements, all run in one read transaction, so they read one snapshot.
func (c *stmtCache) snapshot(ctx context.Context, fn func(querier) error) error {
	tx, err := c.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() // it only read
	return fn(&txQueries{c: c, tx: tx})
}

// txQueries runs the cached statements in a transaction.
type txQueries struct {
	c  *stmtCache
	tx *sql.Tx
}

func (t *txQueries) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return t.tx.QueryContext(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.stmts {
		errs = append(errs, st.Close())
		delete(c.stmts, q)
	}
	return errors.Join(errs...)
}
