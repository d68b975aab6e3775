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

// History returns versions newest first: by ord (LastUpdated, never
// before the version replaced), then by seq. The cursor is the (ord, seq)
// of the last entry of a page, so paging walks every version once even
// while new versions are written: those sort before the first page unless
// their LastUpdated is older than the page being read.
func (s *Store) History(ctx context.Context, q fhir.HistoryQuery) (*fhir.HistoryPage, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	n := q.Count
	if n <= 0 {
		n = DefaultPageSize
	}
	n = min(n, MaxPageSize)
	if fhir.IsLedger(q.Type) {
		return s.ledgerHistory(ctx, q, n)
	}

	var b strings.Builder
	var args []any
	b.WriteString(`SELECT ` + fullColumns + `, ord, seq FROM history h WHERE 1`)
	if q.Type != "" {
		b.WriteString(` AND type = ?`)
		args = append(args, q.Type)
		if q.ID != "" {
			b.WriteString(` AND id = ?`)
			args = append(args, q.ID)
		}
	}
	if q.Cursor != "" {
		ord, seq, ok := decodeCursor(q.Cursor)
		if !ok {
			return nil, fhir.Errorf(fhir.CodeInvalid, "invalid history page cursor")
		}
		if q.Type != "" && q.ID != "" {
			// For one resource seq alone has the order of (ord, seq),
			// and keeps SQLite on the (type, id, version) key.
			b.WriteString(` AND seq < ?`)
			args = append(args, seq)
		} else {
			b.WriteString(` AND (ord, seq) < (?, ?)`)
			args = append(args, ord, seq)
		}
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
		b.WriteString(` ORDER BY ord DESC, seq DESC LIMIT ?`)
	}
	args = append(args, n+1)

	rows, err := s.queries.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, s.fail("history", err)
	}
	defer rows.Close()
	page := &fhir.HistoryPage{Entries: make([]*fhir.Resource, 0, min(n, 64))}
	var ord, seq int64
	for rows.Next() {
		if len(page.Entries) == n {
			page.Next = encodeCursor(ord, seq) // of the last entry kept
			break
		}
		res, err := scanFull(rows, &ord, &seq)
		if err != nil {
			return nil, s.fail("history", err)
		}
		page.Entries = append(page.Entries, res)
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

// encodeCursor writes (ord, seq) as "ord.seq", both in base 36.
func encodeCursor(ord, seq int64) string {
	return strconv.FormatInt(ord, 36) + "." + strconv.FormatInt(seq, 36)
}

func decodeCursor(c string) (ord, seq int64, ok bool) {
	o, q, found := strings.Cut(c, ".")
	if !found {
		return 0, 0, false
	}
	ord, err1 := strconv.ParseInt(o, 36, 64)
	seq, err2 := strconv.ParseInt(q, 36, 64)
	return ord, seq, err1 == nil && err2 == nil && seq > 0
}
