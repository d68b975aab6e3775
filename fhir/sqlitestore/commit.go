package sqlitestore

import (
	"context"
	"fmt"

	"github.com/oncofhir/oncofhir/fhir"
)

// Group commit.
//
// Syncing the WAL is most of the cost of a write (synchronous=FULL), and a
// server has several writers at once. So when writers queue for the writer
// connection, their units of work share one SQLite transaction and one
// sync: the first unit opens the transaction (BEGIN IMMEDIATE), each later
// one runs inside a SAVEPOINT so that a unit that fails is undone alone,
// and the last one in line commits for all. Every Write returns only after
// the COMMIT that holds its unit has returned; a COMMIT that fails fails
// every unit in it. Units still run one at a time, in the order they got
// the connection, each seeing the ones before it: serialisable, as with one
// transaction per unit. A lone writer pays for none of this: its unit is
// the first and the last of its batch.

// maxBatch bounds the units in one transaction, and so how long the first
// of them waits for the commit.
const maxBatch = 32

// handOffHook, when set by a test, runs as a unit leaves its batch open
// for the next writer.
var handOffHook func()

// batch is the transaction open on the writer connection.
type batch struct {
	units int           // units kept in it
	done  chan struct{} // closed once it is committed or has failed
	err   error         // why it failed, set before done is closed
}

// Write runs fn as one unit of work (see the note on group commit above).
func (s *Store) Write(ctx context.Context, fn func(tx fhir.Tx) error) error {
	s.waiting.Add(1)
	select {
	case s.wsem <- struct{}{}:
		s.waiting.Add(-1)
	case <-ctx.Done():
		s.waiting.Add(-1)
		// The unit before may have left its batch open for this writer.
		go s.flush()
		return fmt.Errorf("sqlitestore: write: %w", ctx.Err())
	}
	if s.closed.Load() {
		<-s.wsem
		return errClosed
	}
	b, first := s.batch, s.batch == nil
	if first {
		if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			<-s.wsem
			return s.fail("write: begin", err)
		}
		b = &batch{done: make(chan struct{})}
		s.batch = b
	} else if _, err := s.wconn.ExecContext(context.Background(), "SAVEPOINT unit"); err != nil {
		s.failBatch(b, err)
		<-s.wsem
		return b.err
	}

	t := &tx{s: s, ctx: ctx}
	ended := false
	defer func() {
		t.err = errUnitEnded // a tx kept past its unit must not write outside it
		if !ended {          // fn panicked or called runtime.Goexit
			s.endUnit(b, first, false)
		}
	}()
	ferr := fn(t)
	if ferr == nil && t.check() == nil {
		ferr = t.flushLedger()
	}
	ok := ferr == nil && t.check() == nil
	ended = true
	s.endUnit(b, first, ok)
	switch {
	case ferr != nil:
		return ferr
	case !ok:
		return t.err
	}
	<-b.done
	return b.err
}

// endUnit ends the unit holding the writer connection, keeping it in the
// batch (ok) or undoing it; then commits the batch, or leaves it open when
// another writer is waiting to add its unit; and releases the connection.
func (s *Store) endUnit(b *batch, first, ok bool) {
	defer func() { <-s.wsem }()
	switch {
	case ok && !first:
		if _, err := s.wconn.ExecContext(context.Background(), "RELEASE unit"); err != nil {
			s.failBatch(b, err)
			return
		}
	case !ok && first:
		s.rollback()
		s.batch = nil
		return
	case !ok:
		if _, err := s.wconn.ExecContext(context.Background(), "ROLLBACK TO unit"); err != nil {
			s.failBatch(b, err) // the transaction is gone with the unit
			return
		}
		if _, err := s.wconn.ExecContext(context.Background(), "RELEASE unit"); err != nil {
			s.failBatch(b, err)
			return
		}
	}
	// A unit that failed may have failed for want of what the batch holds:
	// a writer that read the committed version outside its unit, and then
	// conflicted with a unit not yet committed, would fail again and again
	// while the batch stayed open. So a failure commits what is there.
	if ok {
		b.units++
		if s.waiting.Load() > 0 && b.units < maxBatch {
			if handOffHook != nil {
				handOffHook()
			}
			return
		}
	}
	s.commitBatch(b)
}

// commitBatch commits the open batch. The commit does not follow any
// unit's context: once units have run, they are committed together or
// reported as not stored.
func (s *Store) commitBatch(b *batch) {
	if _, err := s.wconn.ExecContext(context.Background(), "COMMIT"); err != nil {
		s.failBatch(b, fmt.Errorf("commit: %w", err))
		return
	}
	s.commits.Add(1)
	s.ckpt.committed()
	s.batch = nil
	close(b.done)
}

// failBatch rolls back the open batch and fails every unit in it.
func (s *Store) failBatch(b *batch, err error) {
	s.rollback()
	b.err = s.fail("write", err)
	s.batch = nil
	close(b.done)
}

// flush commits a batch left open for a writer that gave up waiting, unless
// another writer is still in line to continue it.
func (s *Store) flush() {
	s.wsem <- struct{}{}
	defer func() { <-s.wsem }()
	if b := s.batch; b != nil && s.waiting.Load() == 0 {
		s.commitBatch(b)
	}
}

// rollback ends the transaction on the writer connection, if one is open.
// Its error is of no use: SQLite may already have rolled back, and the
// writer is usable either way.
func (s *Store) rollback() {
	_, _ = s.wconn.ExecContext(context.Background(), "ROLLBACK")
}
