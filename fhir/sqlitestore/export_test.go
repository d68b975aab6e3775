package sqlitestore

import (
	"context"
	"fmt"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// Commits is the number of transactions Write has committed.
func Commits(s *Store) int64 { return s.commits.Load() }

// Waiting is the number of writers waiting for the writer connection.
func Waiting(s *Store) int { return int(s.waiting.Load()) }

// SetHandOffHook sets a function run as a unit leaves its batch open for
// the next writer; nil removes it.
func SetHandOffHook(f func()) { handOffHook = f }

// Pragmas returns the value of a PRAGMA on the writer connection and on a
// read connection.
func Pragmas(s *Store, name string) (writer, reader string, err error) {
	ctx := context.Background()
	if err = s.wconn.QueryRowContext(ctx, "PRAGMA "+name).Scan(&writer); err != nil {
		return "", "", err
	}
	err = s.rdb.QueryRowContext(ctx, "PRAGMA "+name).Scan(&reader)
	return writer, reader, err
}

// QueryPlan returns SQLite's plan for Search(q), one step a line.
func QueryPlan(s *Store, q fhir.Query) (string, error) {
	ctx := context.Background()
	p, err := newPlan(ctx, s.queries, q)
	if err != nil {
		return "", err
	}
	return explain(s, p.sql(false))
}

// WalkPlan returns SQLite's plan for the statements that walk a search
// (see walk), one step a line: the end of a chunk, the matches in it
// without and with an end, the page's rows.
func WalkPlan(s *Store, q fhir.Query) (string, error) {
	p, err := newPlan(context.Background(), s.queries, q)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, b := range []*sqlBuf{
		frag(chunkEndSQL, q.Type, "", 100),
		p.walkSQL("", "", 20),
		p.walkSQL("a", "b", 20),
		frag(fetchSQL, q.Type, "[]"),
	} {
		plan, err := explain(s, b)
		if err != nil {
			return "", err
		}
		out.WriteString(plan)
	}
	return out.String(), nil
}

// SetWalkHook sets a function told how each walk of a broad search ended
// (see walk); nil removes it.
func SetWalkHook(f func(outcome string, chunks int)) { walkHook = f }

func explain(s *Store, b *sqlBuf) (string, error) {
	rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+b.text.String(), b.args...)
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

// SetUserVersion writes PRAGMA user_version, as an older server would have.
func SetUserVersion(s *Store, v int) error {
	_, err := s.wconn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}
