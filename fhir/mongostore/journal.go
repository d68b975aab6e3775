package mongostore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

// journal is a document of the txlog collection: a unit of work being
// committed without a server transaction. It names every version the unit
// writes and what each replaces, so that anyone can undo the unit.
//
// While the journal exists the unit is uncommitted. The owner commits by
// deleting it while it is still "pending"; anyone may instead claim it for
// rollback by setting "rollback" (the owner on a failed write, any process
// once it is older than the lease). One of the two single-document writes
// wins, so a unit is never both reported stored and rolled back.
type journal struct {
	ID      string         `bson:"_id"`
	State   string         `bson:"state"`
	Created int64          `bson:"created"` // Unix microseconds, writer's clock
	Writes  []journalWrite `bson:"writes"`
}

type journalWrite struct {
	Key         string   `bson:"key"` // Type/id
	Type        string   `bson:"type"`
	ID          string   `bson:"id"`
	Version     int      `bson:"version"`
	LastUpdated int64    `bson:"lastUpdated"`
	Prev        *current `bson:"prev"` // the current document replaced; nil for a creation
}

const (
	statePending  = "pending"
	stateRollback = "rollback"
)

// writeJournalled runs fn against a buffer and commits the buffer.
func (s *Store) writeJournalled(ctx context.Context, fn func(tx fhir.Tx) error) error {
	t := &journalTx{s: s, ctx: ctx, latest: map[string]*buffered{}, before: map[string]*current{}}
	if err := fn(t); err != nil {
		return err
	}
	// The unit's ledger resources go in after its versions: not undone by
	// a rollback, they must not be stored for a unit that fails. A unit
	// that searched commits its guards even when it wrote only those.
	if len(t.puts) > 0 || len(t.ledgerOrder) > 0 && len(t.guards) > 0 {
		if err := t.commit(); err != nil {
			return err
		}
	}
	return t.commitLedger()
}

// journalTx buffers the unit's Puts; its reads see them.
type journalTx struct {
	s      *Store
	ctx    context.Context
	puts   []*fhir.Resource
	latest map[string]*buffered // Type/id → last buffered version
	before map[string]*current  // Type/id → stored current document at first Put (nil: none)
	guards guardSet             // the guards of the unit's searches (see guard.go)
	// The unit's ledger Puts (see ledger.go), by Type/id and in order.
	ledger      map[string]*ledgerDoc
	ledgerOrder []*ledgerDoc
}

func (t *journalTx) Read(typ, id string) (*fhir.Resource, error) {
	if fhir.IsLedger(typ) {
		return t.readLedger(typ, id)
	}
	if r, ok := t.latest[resourceKey(typ, id)]; ok {
		return r.view(), nil
	}
	r, err := t.s.readResource(t.ctx, typ, id)
	if err != nil {
		return nil, t.s.fail("read "+typ+"/"+id, err)
	}
	return r, nil
}

// Search asks the store for enough results to make up for those the
// buffer replaces, from the first one (the buffered versions may sort
// before the page), then merges in the buffered versions that match,
// sorts, and pages.
func (t *journalTx) Search(q fhir.Query) ([]*fhir.Resource, error) {
	if fhir.IsLedger(q.Type) {
		if err := t.s.watch(t.ctx, &t.guards, q); err != nil {
			return nil, t.s.fail("search", err)
		}
		return t.searchLedger(q)
	}
	if err := checkQuery(q); err != nil {
		return nil, t.s.fail("search", err)
	}
	if err := t.s.watch(t.ctx, &t.guards, q); err != nil {
		return nil, t.s.fail("search", err)
	}
	if len(t.latest) == 0 {
		out, err := t.s.search(t.ctx, q)
		if err != nil {
			return nil, t.s.fail("search", err)
		}
		return out, nil
	}
	wide := q
	wide.Offset = 0
	if q.Limit > 0 {
		wide.Limit = max(q.Offset, 0) + q.Limit + len(t.latest)
	}
	stored, err := t.s.find(t.ctx, wide, len(q.Sort) > 0)
	if err != nil {
		return nil, t.s.fail("search", err)
	}
	hs := slices.DeleteFunc(stored, func(h *hit) bool {
		_, replaced := t.latest[h.res.Key()]
		return replaced
	})
	for _, r := range t.latest {
		if matches(&r.Resource, q) {
			hs = append(hs, &hit{res: r.view(), vals: sortValues(r.Index, q.Sort)})
		}
	}
	sortHits(q.Sort, hs)
	return resources(page(hs, q.Offset, q.Limit)), nil
}

// Put checks the version against the buffer or the store and buffers res.
// A resource whose current version belongs to a unit still committing is
// in a race already: fhir.ErrVersionConflict, so that no unit builds on a
// version that may yet be rolled back.
func (t *journalTx) Put(res *fhir.Resource) error {
	if res != nil && fhir.IsLedger(res.Type) {
		return t.putLedger(res)
	}
	if err := checkPut(res); err != nil {
		return err
	}
	if err := checkIndex(res.Index); err != nil {
		return fmt.Errorf("mongostore: %s: %w", what(res), err)
	}
	key := res.Key()
	have := 0
	if r, ok := t.latest[key]; ok {
		have = r.Version
	} else {
		c, err := t.s.readCurrent(t.ctx, res.Type, res.ID)
		switch {
		case err != nil && errors.Is(translate(err), fhir.ErrNotFound):
			c = nil
		case err != nil:
			return t.s.fail(what(res), err)
		}
		if c != nil {
			pending, err := t.s.pending(t.ctx, c)
			if err != nil {
				return t.s.fail(what(res), err)
			}
			if pending {
				return conflict(res)
			}
			have = c.Version
		}
		if res.Version == have+1 {
			t.before[key] = c
		}
	}
	if res.Version != have+1 {
		return conflict(res)
	}
	b := &buffered{Resource: *res}
	b.JSON = slices.Clone(res.JSON)
	b.Tokens = slices.Clone(res.Tokens)
	b.Index = slices.Clone(res.Index)
	t.puts = append(t.puts, &b.Resource)
	t.latest[key] = b
	return nil
}

// buffered is a Put waiting for commit.
type buffered struct{ fhir.Resource }

// view is what reads through the unit return: a copy, without the tokens
// and index entries, as a read from the store would be.
func (b *buffered) view() *fhir.Resource {
	c := b.Resource
	c.Tokens, c.Index = nil, nil
	return &c
}

// pending reports whether c was written by a unit that is still
// committing, or whose process died before it could.
func (s *Store) pending(ctx context.Context, c *current) (bool, error) {
	if c.Tx == "" {
		return false, nil
	}
	return exists(ctx, s.txlog, bson.D{{Key: "_id", Value: c.Tx}})
}

// exists is a find of one _id, cheaper than a count (an aggregation) on
// FerretDB.
func exists(ctx context.Context, c *mongo.Collection, filter bson.D) (bool, error) {
	err := c.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// commit writes the journal, bumps the guards of the unit's searches,
// applies the buffered versions in order and deletes the journal; on any
// failure it rolls the unit back. It does not follow the caller's context
// once started: a unit half-applied because a client went away would stay
// visible until the lease ran out.
func (t *journalTx) commit() error {
	if err := checkGuards(t.guards); err != nil {
		return err
	}
	s := t.s
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), s.lease/2)
	defer cancel()

	j := &journal{ID: hex.EncodeToString(randomBytes(12)), State: statePending, Created: micros(s.now())}
	prev := make(map[string]*current, len(t.before))
	for k, c := range t.before {
		prev[k] = c
	}
	orders := make([]string, len(t.puts))
	for i, r := range t.puts {
		k := r.Key()
		prevOrder := ""
		if prev[k] != nil {
			prevOrder = prev[k].Order
		}
		orders[i] = nextOrder(r, prevOrder)
		j.Writes = append(j.Writes, journalWrite{
			Key: k, Type: r.Type, ID: r.ID, Version: r.Version,
			LastUpdated: micros(r.LastUpdated), Prev: prev[k],
		})
		prev[k] = newCurrent(r, orders[i], j.ID, s.markInf)
	}
	if _, err := s.txlog.InsertOne(ctx, j); err != nil {
		return s.fail("write: journal", err)
	}
	// After the journal, so that a reader never finds a guard marked with
	// a journal that does not exist yet; before the versions, so that a
	// unit that loses here has written none.
	if len(t.guards) > 0 {
		if err := s.bumpGuards(ctx, t.guards, j.ID); err != nil {
			if errors.Is(err, errAbandon) {
				return err
			}
			if rerr := s.rollback(ctx, &journal{ID: j.ID}); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
	}
	for i, r := range t.puts {
		untouched, err := s.apply(ctx, r, orders[i], j.ID)
		if err == nil {
			continue
		}
		if errors.Is(err, errAbandon) {
			return err
		}
		// Undo what may have been written: the Puts before this one, and
		// this one unless it certainly wrote nothing.
		done := *j
		done.Writes = j.Writes[:i+1]
		if untouched {
			done.Writes = j.Writes[:i]
		}
		err = s.fail(what(r), err)
		if rerr := s.rollback(ctx, &done); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if err := s.step(stepCommit, nil); err != nil {
		return err
	}
	d, err := s.txlog.DeleteOne(ctx, bson.D{{Key: "_id", Value: j.ID}, {Key: "state", Value: statePending}})
	if err != nil {
		err = s.fail("write: commit", err)
		if rerr := s.claimAndRollback(ctx, j.ID); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if d.DeletedCount == 0 {
		return fmt.Errorf("mongostore: write: commit: the unit outlived its lease and was rolled back: %w", fhir.ErrUnavailable)
	}
	return nil
}

// stepCommit names the commit for the test hook; errAbandon from the hook
// leaves the unit as a crashed process would.
const stepCommit = "commit"

var errAbandon = errors.New("mongostore: unit abandoned")

// claimAndRollback claims journal id for rollback, unless it is gone
// (committed, or rolled back by someone else), and rolls it back. The claim
// is what stops its owner from committing it afterwards.
func (s *Store) claimAndRollback(ctx context.Context, id string) error {
	var j journal
	err := s.txlog.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: stateRollback}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&j)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return s.fail("rollback "+id, err)
	}
	return s.rollback(ctx, &j)
}

// rollback undoes the writes of journal j, newest first, then deletes it.
// Every undo is conditional on the document still being the unit's own, so
// it is safe to repeat, to run beside another rollback of the same unit,
// and to run after a crash at any point of commit. The owner of a unit
// that failed rolls it back without claiming it: it will not commit it.
func (s *Store) rollback(ctx context.Context, j *journal) error {
	for i := len(j.Writes) - 1; i >= 0; i-- {
		if err := s.undo(ctx, j.ID, j.Writes[i]); err != nil {
			return s.fail(fmt.Sprintf("rollback %s: %s version %d", j.ID, j.Writes[i].Key, j.Writes[i].Version), err)
		}
	}
	if _, err := s.txlog.DeleteOne(ctx, bson.D{{Key: "_id", Value: j.ID}}); err != nil {
		return s.fail("rollback "+j.ID, err)
	}
	return nil
}

func (s *Store) undo(ctx context.Context, tx string, w journalWrite) error {
	var cur current
	err := s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: w.Key}}).Decode(&cur)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	found := err == nil
	switch {
	case found && cur.Tx == tx && cur.Version == w.Version:
		mine := bson.D{{Key: "_id", Value: w.Key}, {Key: "tx", Value: tx}, {Key: "version", Value: w.Version}}
		if w.Prev == nil {
			_, err = s.resources.DeleteOne(ctx, mine)
		} else {
			_, err = s.resources.ReplaceOne(ctx, mine, w.Prev)
		}
		if err != nil {
			return err
		}
	case found && cur.Version > w.Version:
		// Built upon by a later unit (which the pending check prevents):
		// the version is part of the record now; keep it.
		return nil
	}
	vkey := versionKey(w.Type, w.ID, w.Version)
	mine, err := exists(ctx, s.history, bson.D{{Key: "_id", Value: vkey}, {Key: "tx", Value: tx}})
	if err != nil || !mine {
		return err
	}
	if w.Version > 1 {
		_, err := s.history.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: versionKey(w.Type, w.ID, w.Version-1)}, {Key: "until", Value: w.LastUpdated}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: openEnd}}}})
		if err != nil {
			return err
		}
	}
	_, err = s.history.DeleteOne(ctx, bson.D{{Key: "_id", Value: vkey}, {Key: "tx", Value: tx}})
	return err
}

// recover rolls back the journals older than the lease: units whose
// process died, or lost its connection, while committing.
func (s *Store) recover(ctx context.Context) error {
	cutoff := micros(s.now().Add(-s.lease))
	cur, err := s.txlog.Find(ctx, bson.D{{Key: "created", Value: bson.D{{Key: "$lt", Value: cutoff}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return err
	}
	var stale []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &stale); err != nil {
		return err
	}
	var errs []error
	for _, j := range stale {
		errs = append(errs, s.claimAndRollback(ctx, j.ID))
	}
	return errors.Join(errs...)
}

// sweep runs recover once a lease until Close, so that an abandoned unit
// does not block writes to its resources until the next start.
func (s *Store) sweep() {
	defer close(s.stopped)
	tick := time.NewTicker(s.lease)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.lease)
			_ = s.recover(ctx) // tried again at the next tick
			cancel()
		}
	}
}
