package sqlitestore

import (
	"context"
	"strings"
)

// The record reads, for their query plans.
const (
	GetRecordSQL   = getRecordSQL
	FindRecordsSQL = findRecordsSQL
	ListRecordsSQL = listRecordsSQL
)

// PlanOf returns SQLite's plan for query, its parameters NULL, on a read
// connection, one step a line.
func PlanOf(s *Store, query string) (string, error) {
	args := make([]any, strings.Count(query, "?"))
	rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		out.WriteString(detail + "\n")
	}
	return out.String(), rows.Err()
}

// ForgetPurge makes the next PutRecord purge expired records.
func ForgetPurge(s *Store) { s.rec.lastPurge.Store(0) }

// RecordRows counts the rows of the record tables, expired ones included.
func RecordRows(s *Store) (records, attrs int, err error) {
	ctx := context.Background()
	if err = s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM record").Scan(&records); err != nil {
		return 0, 0, err
	}
	err = s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM record_attr").Scan(&attrs)
	return records, attrs, err
}
