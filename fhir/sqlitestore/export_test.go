package sqlitestore

import "context"

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
