package mongostore

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/oncofhir/oncofhir/fhir"
)

// Write runs fn as one unit of work: in a server transaction when the
// server has them, else through the journal (see the package comment).
//
// Under transactions the driver may run fn again when the server reports a
// transient failure of the whole transaction (an election, a lost commit
// acknowledgement); fn must be safe to repeat, as the units of fhir/rest
// are.
func (s *Store) Write(ctx context.Context, fn func(tx fhir.Tx) error) error {
	if err := s.beginWrite(); err != nil {
		return err
	}
	defer s.writes.Done()
	if s.transactions {
		return s.writeInTransaction(ctx, fn)
	}
	return s.writeJournalled(ctx, fn)
}

func (s *Store) writeInTransaction(ctx context.Context, fn func(tx fhir.Tx) error) error {
	sess, err := s.client.StartSession()
	if err != nil {
		return s.fail("write: start session", err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	var fnErr error
	_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) {
		t := &sessionTx{s: s, ctx: sc}
		fnErr = fn(t)
		if fnErr == nil {
			fnErr = t.err
		}
		if fnErr == nil && t.wrote && len(t.guards) > 0 {
			fnErr = s.bumpGuards(sc, t.guards, "")
		}
		// Errors from fn and from our Tx carry no driver labels, so the
		// driver does not retry them: only failures of the transaction
		// itself (commit, election) make it run fn again.
		return nil, fnErr
	})
	if err == nil {
		return nil
	}
	if fnErr != nil && errors.Is(err, fnErr) {
		return fnErr
	}
	return s.fail("write: commit", err)
}

// sessionTx is a unit of work inside a server transaction: reads through
// it see its writes because they run in the same session.
type sessionTx struct {
	s   *Store
	ctx context.Context
	// err, once set, is a failed write: the server has aborted the
	// transaction, so the unit cannot commit whatever fn does next.
	err    error
	wrote  bool     // a Put succeeded
	guards guardSet // the guards of the unit's searches (see guard.go)
}

func (t *sessionTx) Read(typ, id string) (*fhir.Resource, error) {
	if t.err != nil {
		return nil, t.err
	}
	if fhir.IsLedger(typ) {
		return t.readLedger(typ, id)
	}
	r, err := t.s.readResource(t.ctx, typ, id)
	if err != nil {
		return nil, t.readErr("read "+typ+"/"+id, err)
	}
	return r, nil
}

func (t *sessionTx) Search(q fhir.Query) ([]*fhir.Resource, error) {
	if t.err != nil {
		return nil, t.err
	}
	if err := t.s.watch(t.ctx, &t.guards, q); err != nil {
		return nil, t.readErr("search", err)
	}
	search := t.s.search
	if fhir.IsLedger(q.Type) {
		search = t.s.searchLedger
	}
	out, err := search(t.ctx, q)
	if err != nil {
		return nil, t.readErr("search", err)
	}
	return out, nil
}

// readErr: not-found leaves the transaction usable, anything else ends it.
func (t *sessionTx) readErr(op string, err error) error {
	err = t.s.fail(op, err)
	if !errors.Is(err, fhir.ErrNotFound) {
		t.err = err
	}
	return err
}

// Put checks the current version first, so that a stale version is
// answered with fhir.ErrVersionConflict while the transaction stays usable;
// a race lost after that check aborts the transaction.
func (t *sessionTx) Put(res *fhir.Resource) error {
	if t.err != nil {
		return t.err
	}
	if res != nil && fhir.IsLedger(res.Type) {
		return t.putLedger(res)
	}
	if err := checkPut(res); err != nil {
		return err
	}
	if err := checkIndex(res.Index); err != nil {
		return fmt.Errorf("mongostore: %s: %w", what(res), err)
	}
	cur, err := t.s.readCurrent(t.ctx, res.Type, res.ID)
	if err != nil && !errors.Is(translate(err), fhir.ErrNotFound) {
		t.err = t.s.fail(what(res), err)
		return t.err
	}
	have, prevOrder := 0, ""
	if cur != nil {
		have, prevOrder = cur.Version, cur.Order
		// Written by a journalled unit (a process forcing the journal on
		// this database) that may yet be rolled back: see journalTx.Put.
		if pending, err := t.s.pending(t.ctx, cur); err != nil {
			t.err = t.s.fail(what(res), err)
			return t.err
		} else if pending {
			return conflict(res)
		}
	}
	if res.Version != have+1 {
		return conflict(res)
	}
	if _, err := t.s.apply(t.ctx, res, nextOrder(res, prevOrder), ""); err != nil {
		t.err = t.s.fail(what(res), err)
		return t.err
	}
	t.wrote = true
	return nil
}

func checkPut(res *fhir.Resource) error {
	if res == nil || res.Type == "" || res.ID == "" {
		return errors.New("mongostore: put: resource type and id are required")
	}
	if res.Version < 1 {
		return conflict(res)
	}
	return nil
}

func what(res *fhir.Resource) string {
	return fmt.Sprintf("put %s/%s version %d", res.Type, res.ID, res.Version)
}

func conflict(res *fhir.Resource) error {
	return fmt.Errorf("mongostore: %s: %w", what(res), fhir.ErrVersionConflict)
}

// Steps of apply, named for the test hook.
const (
	stepHistory = "history"
	stepUntil   = "until"
	stepCurrent = "current"
)

// apply stores res, whose predecessor has been checked to be current, in
// three writes: the history entry (its _id is unique, so a second writer
// of the same version fails here first), the end of the previous version's
// time as current, and the current document, swapped only if it still
// holds the previous version. order is the version's history order key; tx
// marks the documents of a journalled unit.
//
// untouched reports a failure that certainly wrote nothing: the history
// entry was refused as a duplicate (or the test hook failed first).
func (s *Store) apply(ctx context.Context, res *fhir.Resource, order, tx string) (untouched bool, err error) {
	if err := s.step(stepHistory, res); err != nil {
		return !errors.Is(err, errAbandon), err
	}
	if _, err := s.history.InsertOne(ctx, newVersion(res, order, tx)); err != nil {
		return mongo.IsDuplicateKeyError(err), err
	}
	if res.Version > 1 {
		if err := s.step(stepUntil, res); err != nil {
			return false, err
		}
		_, err := s.history.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: versionKey(res.Type, res.ID, res.Version-1)}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: micros(res.LastUpdated)}}}})
		if err != nil {
			return false, err
		}
	}
	if err := s.step(stepCurrent, res); err != nil {
		return false, err
	}
	doc := newCurrent(res, order, tx, s.markInf)
	if res.Version == 1 {
		_, err := s.resources.InsertOne(ctx, doc)
		return false, err
	}
	r, err := s.resources.ReplaceOne(ctx,
		bson.D{{Key: "_id", Value: doc.Key}, {Key: "version", Value: res.Version - 1}}, doc)
	if err != nil {
		return false, err
	}
	if r.MatchedCount == 0 {
		return false, fhir.ErrVersionConflict
	}
	return false, nil
}

func (s *Store) step(name string, res *fhir.Resource) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(name, res)
}
