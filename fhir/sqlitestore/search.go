package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// querier is the read pool (through its statement cache) or, inside a
// unit of work, the writer connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Search returns the current, not deleted resources matching q.
func (s *Store) Search(ctx context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	res, err := search(ctx, s.queries, q)
	if err != nil {
		return nil, s.fail("search", err)
	}
	return res, nil
}

// maxInlineIDs is the longest id list written as parameters.
const maxInlineIDs = 200

const fullColumns = `type, id, version, last_updated, deleted, method, json`

// search builds one SELECT over resource. Token criteria become a
// sub-select on the token lookup key, (param, code[, type]); the resource
// rows are then found by primary key.
func search(ctx context.Context, db querier, q fhir.Query) ([]*fhir.Resource, error) {
	var b strings.Builder
	args := make([]any, 0, 2+len(q.IDs)+4*len(q.Tokens))
	b.WriteString(`SELECT ` + fullColumns + ` FROM resource WHERE deleted = 0`)
	if q.Type != "" {
		b.WriteString(` AND type = ?`)
		args = append(args, q.Type)
	}
	if len(q.IDs) > maxInlineIDs {
		// One JSON array instead of thousands of parameters, which SQLite
		// caps.
		list, err := json.Marshal(q.IDs)
		if err != nil {
			return nil, err
		}
		b.WriteString(` AND id IN (SELECT value FROM json_each(?))`)
		args = append(args, string(list))
	} else if len(q.IDs) > 0 {
		b.WriteString(` AND id IN (`)
		for i, id := range q.IDs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			args = append(args, id)
		}
		b.WriteByte(')')
	}
	if len(q.Tokens) > 0 {
		b.WriteString(` AND (type, id) IN (SELECT type, id FROM token WHERE `)
		for i, tok := range q.Tokens {
			if i > 0 {
				b.WriteString(` OR `)
			}
			b.WriteString(`(param = ? AND code = ?`)
			args = append(args, tok.Param, tok.Code)
			if q.Type != "" {
				b.WriteString(` AND type = ?`)
				args = append(args, q.Type)
			}
			if tok.System != "" {
				b.WriteString(` AND system = ?`)
				args = append(args, tok.System)
			}
			b.WriteByte(')')
		}
		b.WriteByte(')')
	}
	b.WriteString(` ORDER BY type, id`)
	if q.Limit > 0 {
		b.WriteString(` LIMIT ?`)
		args = append(args, q.Limit)
	}

	rows, err := db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
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
