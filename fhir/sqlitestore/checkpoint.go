package sqlitestore

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints.
//
// A WAL checkpoint copies the pages that commits appended to the WAL into
// the database file and syncs it. Left to SQLite (wal_autocheckpoint), the
// commit that takes the WAL past the threshold runs it, inside Write, while
// every writer behind it waits. So the writer connection only checkpoints
// as a backstop, at backstopPages; a goroutine with a connection of its
// own runs a PASSIVE checkpoint after commits instead, at most every
// checkpointEvery, without taking the write lock: writers go on appending
// to the WAL meanwhile, and a page written by several commits in between
// is copied once.
//
// Durability is not affected: a commit is durable once its frames are in
// the synced WAL (synchronous=FULL), whoever copies them later, and the
// checkpointer's connection is FULL too, so the database file is synced
// before the WAL is reused.
const (
	checkpointEvery = 500 * time.Millisecond
	backstopPages   = 16000 // about 64 MB of 4 KB pages
)

// checkpointer runs PASSIVE checkpoints on its own connection.
type checkpointer struct {
	db   *sql.DB
	kick chan struct{} // a commit happened
	stop chan struct{}
	done chan struct{}
}

func startCheckpointer(path string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

// committed tells the checkpointer that the WAL has grown. It never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		// Let more commits arrive before copying their pages.
		t.Reset(checkpointEvery)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
		// A failure (a reader holding an old snapshot, a busy lock) is
		// retried after the next commit; the backstop bounds the WAL.
		_, _ = c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// close stops the goroutine and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
