package mongostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/oncofhir/oncofhir/fhir"
)

// guard is a document of the guards collection (see the package
// comment): the counter of one search key, bumped compare-and-swap by
// every unit that searched the key and then wrote. n is 0 while the
// document is missing. Its _id is the key's type and a hash of the key
// (see guardID).
//
// A journalled unit bumps its guards after writing its journal and before
// applying its versions, and marks them with the journal: a unit that
// reads a guard marked by a unit still committing cannot trust its search
// (the versions may not be applied yet), so it fails if it writes. A unit
// that fails, or whose process dies, leaves its guards bumped, which is
// harmless: they stop counting as pending once its journal is deleted, by
// the unit itself or by the rollback after a crash. Bumping after the
// versions instead would need no mark, but would let the losers' versions
// be seen until they were rolled back: two matches where there is one.
type guard struct {
	ID string `bson:"_id"`
	N  int64  `bson:"n"`
	// Tx is the journal of the unit that last bumped the guard, empty
	// when a transaction did.
	Tx string `bson:"tx,omitempty"`
}

// seenGuard is the state of one guard when the unit first read it.
type seenGuard struct {
	n       int64
	pending bool // last bumped by a journalled unit still committing
}

// guardSet maps guard keys to what the unit saw of them.
type guardSet map[string]seenGuard

// guardKeys are the guards of a search. Any criterion that every match
// must meet will do, and the finer the better: one guard per id, one per
// token code (of Tokens, or of a token clause that names its codes), and
// the type itself when the search names none of those (a whole type, or
// clauses such as name or birthdate only). A search without a type has
// none (see the package comment).
func guardKeys(q fhir.Query) []string {
	if q.Type == "" {
		return nil
	}
	var keys []string
	for _, id := range q.IDs {
		keys = append(keys, resourceKey(q.Type, id))
	}
	for _, t := range q.Tokens {
		keys = append(keys, codeGuard(q.Type, t.Param, t.Code))
	}
	for _, c := range q.Clauses {
		keys = append(keys, clauseGuards(q.Type, c)...)
	}
	if len(keys) == 0 {
		keys = []string{q.Type}
	}
	return keys
}

// codeGuard is the guard of a token code, whatever its system, so that
// searches by any system and by one system share it.
func codeGuard(typ, param, code string) string {
	return typ + "|" + tokenKey(param, "", code)
}

// clauseGuards are the guards of a token clause whose every value names a
// code; nil for any other clause.
func clauseGuards(typ string, c fhir.Clause) []string {
	if c.Type != fhir.TypeToken || c.Modifier != "" || c.Missing != nil || len(c.Values) == 0 {
		return nil
	}
	keys := make([]string, len(c.Values))
	for i, v := range c.Values {
		if v.Code == "" {
			return nil
		}
		keys[i] = codeGuard(typ, c.Param, v.Code)
	}
	return keys
}

// watch reads the guards of q that the unit has not read yet. It runs
// before the search, so that a unit that bumped a guard after this read
// makes the swap at commit fail.
func (s *Store) watch(ctx context.Context, set *guardSet, q fhir.Query) error {
	for _, k := range guardKeys(q) {
		if _, ok := (*set)[k]; ok {
			continue
		}
		g, err := s.readGuard(ctx, k)
		if err != nil {
			return err
		}
		if *set == nil {
			*set = guardSet{}
		}
		(*set)[k] = g
	}
	return nil
}

// guardID is the _id of the guard of key: its type, readable, and a hash
// of the rest, so that the collection, which is never emptied, keeps no
// identifier values, and no _id is too long to index however long the
// code. Two keys that shared a hash would only share a guard.
func guardID(key string) string {
	typ := key
	if i := strings.IndexAny(key, "/|"); i >= 0 {
		typ = key[:i]
	}
	sum := sha256.Sum256([]byte(key))
	return typ + ":" + hex.EncodeToString(sum[:16])
}

func (s *Store) readGuard(ctx context.Context, key string) (seenGuard, error) {
	var g guard
	err := s.guards.FindOne(ctx, bson.D{{Key: "_id", Value: guardID(key)}}).Decode(&g)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return seenGuard{}, nil
	}
	if err != nil {
		return seenGuard{}, err
	}
	seen := seenGuard{n: g.N}
	if g.Tx != "" {
		seen.pending, err = exists(ctx, s.txlog, bson.D{{Key: "_id", Value: g.Tx}})
	}
	return seen, err
}

// errGuard answers a unit whose search raced another unit's write. It
// names no key: keys hold identifier values.
var errGuard = fmt.Errorf("mongostore: write: a search of the unit raced another writer: %w", fhir.ErrVersionConflict)

// checkGuards fails a unit that searched while another unit that had
// searched the same key was committing, before it writes anything.
func checkGuards(set guardSet) error {
	for _, g := range set {
		if g.pending {
			return errGuard
		}
	}
	return nil
}

// bumpGuards swaps every guard of set from the value seen to the next,
// marking it with tx (the unit's journal, "" under transactions), in key
// order. A guard that moved, or that another unit created first, is
// errGuard. Without server transactions the swap of a guard is claimed
// first, as a record's replace is (claimRevision): FerretDB v1 runs a
// conditional update as a find and then a write, so two units that saw
// the same value could otherwise both swap it.
func (s *Store) bumpGuards(ctx context.Context, set guardSet, tx string) error {
	if err := checkGuards(set); err != nil {
		return err
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := s.step(stepGuard, nil); err != nil {
			return err
		}
		seen := set[k].n
		if seen == 0 {
			_, err := s.guards.InsertOne(ctx, guard{ID: guardID(k), N: 1, Tx: tx})
			if mongo.IsDuplicateKeyError(err) {
				return errGuard
			}
			if err != nil {
				return s.fail("write: guard", err)
			}
			continue
		}
		if err := s.swapGuard(ctx, k, seen, tx); err != nil {
			return err
		}
	}
	return nil
}

// swapGuard swaps the guard of k from seen to seen+1, marked with tx.
func (s *Store) swapGuard(ctx context.Context, k string, seen int64, tx string) error {
	if !s.transactions {
		release, err := s.claim(ctx, "guard|"+strconv.FormatInt(seen+1, 10)+"|"+guardID(k), micros(s.now()))
		if errors.Is(err, fhir.ErrVersionConflict) {
			return errGuard
		}
		if err != nil {
			return s.fail("write: guard", err)
		}
		defer release()
	}
	r, err := s.guards.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: guardID(k)}, {Key: "n", Value: seen}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: seen + 1}, {Key: "tx", Value: tx}}}})
	if err != nil {
		return s.fail("write: guard", err)
	}
	if r.MatchedCount == 0 {
		return errGuard
	}
	return nil
}

// stepGuard names the swap of one guard for the test hook.
const stepGuard = "guard"
