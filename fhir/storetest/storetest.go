// Package storetest is the contract suite of fhir.Store: every engine runs
// Run against fresh stores of its own and passes the same behaviours, named
// after what the REST layer relies on (versioning, all-or-nothing units of
// work, search, history and its paging, concurrent writers). RunRecords is
// the suite of fhir.Records, the engines' store of OAuth and account
// documents (records.go).
//
// Times are deterministic: a Clock hands out LastUpdated values a second
// and a millisecond apart, already truncated to the millisecond as the
// server does (fhir.TruncateTime), and the suite checks they come back
// equal.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// Run runs every behaviour as a subtest, each on a store of its own.
// newStore must return a new, empty store; Run closes it when the subtest
// ends.
func Run(t *testing.T, newStore func(t *testing.T) fhir.Store) {
	run(t, newStore, crudBehaviours, writeBehaviours, searchBehaviours, historyBehaviours, concurrencyBehaviours)
}

// RunSearch runs the search behaviours over index entries: Query.Clauses
// with every rule of fhir.Clause, Sort, Offset, and Count (see Counter),
// on stores as Run does. An engine calls it beside Run once it executes
// clauses; one that does not yet (MongoDB today) leaves it out.
func RunSearch(t *testing.T, newStore func(t *testing.T) fhir.Store) {
	run(t, newStore, clauseBehaviours, rangeBehaviours, searchMoreBehaviours, sortBehaviours)
}

func run(t *testing.T, newStore func(t *testing.T) fhir.Store, groups ...[]behaviour) {
	for _, group := range groups {
		for _, b := range group {
			t.Run(b.name, func(t *testing.T) {
				e := &env{t: t, ctx: context.Background(), clock: NewClock(), newStore: newStore}
				if !b.ownsStore {
					e.s = newStore(t)
					t.Cleanup(func() {
						if err := e.s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
				}
				b.run(e)
			})
		}
	}
}

// behaviour is one subtest. ownsStore: the test opens and closes its store
// itself (the Close behaviours).
type behaviour struct {
	name      string
	run       func(e *env)
	ownsStore bool
}

// env is what a behaviour works with.
type env struct {
	t        *testing.T
	s        fhir.Store
	ctx      context.Context
	clock    *Clock
	newStore func(t *testing.T) fhir.Store
}

// Clock is a deterministic, goroutine-safe time base for LastUpdated.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Epoch is the first time a Clock returns.
var Epoch = time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

// NewClock returns a clock starting at Epoch.
func NewClock() *Clock { return &Clock{now: Epoch} }

// Next returns the current time and moves the clock on by 1.001 s, so that
// successive values differ in their milliseconds too.
func (c *Clock) Next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(1001 * time.Millisecond)
	return fhir.TruncateTime(t)
}

// resourceJSON is the stored body of a test version: the envelope fields
// the server would have stamped, and a marker member.
func resourceJSON(typ, id string, version int, lastUpdated time.Time, marker string) []byte {
	return fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d","lastUpdated":%q},"marker":%q}`,
		typ, id, version, lastUpdated.Format(fhir.InstantFormat), marker)
}

// first builds version 1 of typ/id.
func (e *env) first(typ, id string, toks ...fhir.Token) *fhir.Resource {
	at := e.clock.Next()
	return &fhir.Resource{Type: typ, ID: id, Version: 1, LastUpdated: at, Method: "POST",
		JSON: resourceJSON(typ, id, 1, at, "v1"), Tokens: toks}
}

// next builds the version after prev.
func (e *env) next(prev *fhir.Resource, toks ...fhir.Token) *fhir.Resource {
	at, v := e.clock.Next(), prev.Version+1
	return &fhir.Resource{Type: prev.Type, ID: prev.ID, Version: v, LastUpdated: at, Method: "PUT",
		JSON: resourceJSON(prev.Type, prev.ID, v, at, fmt.Sprintf("v%d", v)), Tokens: toks}
}

// deletion builds the deletion version after prev.
func (e *env) deletion(prev *fhir.Resource) *fhir.Resource {
	return &fhir.Resource{Type: prev.Type, ID: prev.ID, Version: prev.Version + 1,
		LastUpdated: e.clock.Next(), Method: "DELETE", Deleted: true}
}

// put stores the versions in one unit of work and fails the test if that
// does not succeed.
func (e *env) put(versions ...*fhir.Resource) {
	e.t.Helper()
	err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
		for _, r := range versions {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("Write: %v", err)
	}
}

// create puts version 1 of typ/id and returns it.
func (e *env) create(typ, id string, toks ...fhir.Token) *fhir.Resource {
	e.t.Helper()
	r := e.first(typ, id, toks...)
	e.put(r)
	return r
}

// update puts the version after prev and returns it.
func (e *env) update(prev *fhir.Resource, toks ...fhir.Token) *fhir.Resource {
	e.t.Helper()
	r := e.next(prev, toks...)
	e.put(r)
	return r
}

// remove puts a deletion version after prev and returns it.
func (e *env) remove(prev *fhir.Resource) *fhir.Resource {
	e.t.Helper()
	r := e.deletion(prev)
	e.put(r)
	return r
}

func (e *env) read(typ, id string) *fhir.Resource {
	e.t.Helper()
	got, err := e.s.Read(e.ctx, typ, id)
	if err != nil {
		e.t.Fatalf("Read %s/%s: %v", typ, id, err)
	}
	return got
}

// same checks that got is the version want, field by field. Tokens and
// Index are indexes: stores return none.
func same(t *testing.T, got, want *fhir.Resource) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no resource, want %s version %d", want.Key(), want.Version)
	}
	if got.Type != want.Type || got.ID != want.ID || got.Version != want.Version {
		t.Errorf("got %s version %d, want %s version %d", got.Key(), got.Version, want.Key(), want.Version)
	}
	if got.Deleted != want.Deleted {
		t.Errorf("%s version %d: Deleted = %v, want %v", want.Key(), want.Version, got.Deleted, want.Deleted)
	}
	if got.Method != want.Method {
		t.Errorf("%s version %d: Method = %q, want %q", want.Key(), want.Version, got.Method, want.Method)
	}
	if !got.LastUpdated.Equal(want.LastUpdated) {
		t.Errorf("%s version %d: LastUpdated = %s, want %s", want.Key(), want.Version,
			got.LastUpdated.Format(time.RFC3339Nano), want.LastUpdated.Format(time.RFC3339Nano))
	}
	if len(got.Tokens) != 0 {
		t.Errorf("%s version %d: returned with Tokens %v, want none", want.Key(), want.Version, got.Tokens)
	}
	if len(got.Index) != 0 {
		t.Errorf("%s version %d: returned with Index %v, want none", want.Key(), want.Version, got.Index)
	}
	if want.JSON == nil {
		if got.JSON != nil {
			t.Errorf("%s version %d: JSON = %q, want nil", want.Key(), want.Version, got.JSON)
		}
	} else if !bytes.Equal(got.JSON, want.JSON) {
		t.Errorf("%s version %d: JSON differs from what was Put:\n got %q\nwant %q", want.Key(), want.Version, got.JSON, want.JSON)
	}
}

// versionKey names one version: "Type/id/_history/v".
func versionKey(r *fhir.Resource) string { return fmt.Sprintf("%s/_history/%d", r.Key(), r.Version) }

func keys(rs []*fhir.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key()
	}
	return out
}

func versionKeys(rs []*fhir.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = versionKey(r)
	}
	return out
}
