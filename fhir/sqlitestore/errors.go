package sqlitestore

import (
	"context"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/oncofhir/oncofhir/fhir"
)

// translate turns a driver error into one of ours: fhir.ErrUnavailable when
// the database cannot serve (busy beyond busy_timeout, disk full, I/O error,
// file gone), fhir.ErrVersionConflict for a uniqueness violation (a write
// that lost a race), context errors as they are, and anything else into a
// plain error carrying the driver's message. The result never wraps a
// driver type.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT:
			if se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
				return fmt.Errorf("%w (%s)", fhir.ErrVersionConflict, se.Error())
			}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY,
			sqlite3.SQLITE_NOLFS, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOMEM,
			sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w (%s)", fhir.ErrUnavailable, se.Error())
		}
		return errors.New(se.Error())
	}
	// database/sql's own errors (closed pool, finished transaction) and
	// anything else: keep the message, drop the type.
	return errors.New(err.Error())
}

// fail wraps a failed operation with what was being done, translating the
// cause; after Close every failure reads as errClosed.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlitestore: %s: %w", op, errClosed)
	}
	return fmt.Errorf("sqlitestore: %s: %w", op, translate(err))
}
