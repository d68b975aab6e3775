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
	c.mu.Lock()
	st, ok := c.stmts[query]
	if !ok && len(c.stmts) < maxCachedStmts {
		var err error
		if st, err = c.db.PrepareContext(ctx, query); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.stmts[query] = st
	}
	c.mu.Unlock()
	if st == nil {
		return c.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
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
