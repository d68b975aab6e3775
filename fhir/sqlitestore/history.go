package sqlitestore

import (
	"context"
	"strconv"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// Page sizes for History: Count 0 asks for DefaultPageSize entries, and no
// page holds more than MaxPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// History returns versions newest first, that is in the reverse of the
// order they were written (seq). The cursor is the seq of the last entry
// of the page, so paging walks every version once even while new versions
// are written: those come before the first page, not inside the walk.
func (s *Store) History(ctx context.Context, q fhir.HistoryQuery) (*fhir.HistoryPage, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	n := q.Count
	if n <= 0 {
		n = DefaultPageSize
	}
	n = min(n, MaxPageSize)

	var b strings.Builder
	var args []any
	b.WriteString(`SELECT ` + fullColumns + `, seq FROM history h WHERE 1`)
	if q.Type != "" {
		b.WriteString(` AND type = ?`)
		args = append(args, q.Type)
		if q.ID != "" {
			b.WriteString(` AND id = ?`)
			args = append(args, q.ID)
		}
	}
	if q.Cursor != "" {
		seq, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil || seq < 1 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "invalid history page cursor")
		}
		b.WriteString(` AND seq < ?`)
		args = append(args, seq)
	}
	if !q.Since.IsZero() {
		b.WriteString(` AND last_updated >= ?`)
		args = append(args, ceilMicros(q.Since))
	}
	if !q.AtStart.IsZero() || !q.AtEnd.IsZero() {
		args = atFilter(&b, args, q)
	}
	if q.Type != "" && q.ID != "" {
		// The same order for one resource, but this one SQLite reads
		// straight from the (type, id, version) key instead of walking
		// history_type through every version of the type.
		b.WriteString(` ORDER BY version DESC LIMIT ?`)
	} else {
		b.WriteString(` ORDER BY seq DESC LIMIT ?`)
	}
	args = append(args, n+1)

	rows, err := s.rdb.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, s.fail("history", err)
	}
	defer rows.Close()
	page := &fhir.HistoryPage{Entries: make([]*fhir.Resource, 0, min(n, 64))}
	var seq, last int64
	for rows.Next() {
		if len(page.Entries) == n {
			page.Next = strconv.FormatInt(last, 10)
			break
		}
		res, err := scanFull(rows, &seq)
		if err != nil {
			return nil, s.fail("history", err)
		}
		page.Entries = append(page.Entries, res)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("history", err)
	}
	return page, nil
}

// atFilter keeps the versions current at some time in [AtStart, AtEnd):
// those written in that range, and the newest version of each resource
// written before AtStart (newest by version number).
func atFilter(b *strings.Builder, args []any, q fhir.HistoryQuery) []any {
	b.WriteString(` AND ((1`)
	if !q.AtStart.IsZero() {
		b.WriteString(` AND last_updated >= ?`)
		args = append(args, ceilMicros(q.AtStart))
	}
	if !q.AtEnd.IsZero() {
		b.WriteString(` AND last_updated < ?`)
		args = append(args, ceilMicros(q.AtEnd))
	}
	b.WriteByte(')')
	if !q.AtStart.IsZero() {
		start := ceilMicros(q.AtStart)
		b.WriteString(` OR (last_updated < ? AND NOT EXISTS (SELECT 1 FROM history n
			WHERE n.type = h.type AND n.id = h.id AND n.version > h.version AND n.last_updated < ?))`)
		args = append(args, start, start)
	}
	b.WriteByte(')')
	return args
}
