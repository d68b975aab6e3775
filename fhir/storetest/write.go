package storetest

import (
	"errors"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

var errFn = errors.New("storetest: fn gives up")

var writeBehaviours = []behaviour{
	{name: "Write whose fn fails after several Puts leaves no trace", run: func(e *env) {
		tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "unit-1"}
		old := e.create("Patient", "old")
		a1 := e.first("Patient", "a", tok)
		b1 := e.first("Observation", "b", tok)
		a2 := e.next(a1, tok)
		old2 := e.next(old, tok)
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			for _, r := range []*fhir.Resource{a1, b1, a2, old2} {
				if err := tx.Put(r); err != nil {
					return err
				}
			}
			return errFn
		})
		if !errors.Is(err, errFn) {
			e.t.Fatalf("Write: err = %v, want fn's error", err)
		}
		e.noTrace(a1, b1)
		same(e.t, e.read("Patient", "old"), old)
		e.onlyVersions("Patient", "old", old)
		if got := e.search(fhir.Query{Tokens: []fhir.Token{tok}}); len(got) != 0 {
			e.t.Errorf("Search by the unit's token = %v, want nothing", got)
		}
		if got := e.walk(fhir.HistoryQuery{}, 0); len(got) != 1 {
			e.t.Errorf("system history = %v, want only %s", versionKeys(got), versionKey(old))
		}
	}},

	{name: "a conflict in the third Put of a unit discards the first two", run: func(e *env) {
		c1 := e.create("Patient", "c")
		c2 := e.update(c1)
		a := e.first("Patient", "a")
		b := e.first("Patient", "b")
		stale := e.next(c1)
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			for _, r := range []*fhir.Resource{a, b, stale} {
				if err := tx.Put(r); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, fhir.ErrVersionConflict) {
			e.t.Fatalf("Write: err = %v, want ErrVersionConflict", err)
		}
		e.noTrace(a, b)
		same(e.t, e.read("Patient", "c"), c2)
		e.onlyVersions("Patient", "c", c2, c1)
	}},

	{name: "a refused Put stores nothing even when fn goes on", run: func(e *env) {
		c1 := e.create("Patient", "c")
		a := e.first("Patient", "a")
		b := e.first("Patient", "b")
		skip := e.next(c1)
		skip.Version = 5
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			if err := tx.Put(a); err != nil {
				return err
			}
			if err := tx.Put(skip); !errors.Is(err, fhir.ErrVersionConflict) {
				e.t.Errorf("Put of version 5 after 1: err = %v, want ErrVersionConflict", err)
			}
			return tx.Put(b)
		})
		if err != nil {
			e.t.Fatalf("Write: %v", err)
		}
		same(e.t, e.read("Patient", "a"), a)
		same(e.t, e.read("Patient", "b"), b)
		same(e.t, e.read("Patient", "c"), c1)
		e.onlyVersions("Patient", "c", c1)
	}},

	{name: "reads inside Write see the unit's own writes", run: func(e *env) {
		tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "own"}
		x1 := e.create("Patient", "x")
		a1 := e.first("Patient", "a", tok)
		a2 := e.next(a1, tok)
		x2 := e.deletion(x1)
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			for _, r := range []*fhir.Resource{a1, a2, x2} {
				if err := tx.Put(r); err != nil {
					return err
				}
			}
			got, err := tx.Read("Patient", "a")
			if err != nil {
				return err
			}
			same(e.t, got, a2)
			if got, err = tx.Read("Patient", "x"); err != nil {
				return err
			}
			same(e.t, got, x2)
			found, err := tx.Search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "identifier", Code: "own"}}})
			if err != nil {
				return err
			}
			if len(found) != 1 {
				e.t.Errorf("tx.Search = %v, want Patient/a", keys(found))
				return errFn
			}
			same(e.t, found[0], a2)
			if found, err = tx.Search(fhir.Query{Type: "Patient", IDs: []string{"x"}}); err != nil || len(found) != 0 {
				e.t.Errorf("tx.Search for the resource deleted in the unit = %v, %v; want nothing", keys(found), err)
			}
			if _, err := tx.Read("Patient", "nobody"); !errors.Is(err, fhir.ErrNotFound) {
				e.t.Errorf("tx.Read of an unknown resource: err = %v, want ErrNotFound", err)
			}
			return nil
		})
		if err != nil {
			e.t.Fatalf("Write: %v", err)
		}
		same(e.t, e.read("Patient", "a"), a2)
		e.onlyVersions("Patient", "a", a2, a1)
	}},

	{name: "a unit's writes are invisible to reads outside it, which do not wait for it", run: func(e *env) {
		a := e.first("Patient", "a")
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			if err := tx.Put(a); err != nil {
				return err
			}
			// From another goroutine, as another request would: a read must
			// neither see the unit nor wait for it.
			outside := make(chan error, 1)
			go func() {
				_, err := e.s.Read(e.ctx, "Patient", "a")
				outside <- err
			}()
			select {
			case err := <-outside:
				if !errors.Is(err, fhir.ErrNotFound) {
					e.t.Errorf("Read outside the unit before commit: err = %v, want ErrNotFound", err)
				}
			case <-time.After(5 * time.Second):
				e.t.Errorf("Read outside the unit waited for the unit of work in progress")
			}
			return nil
		})
		if err != nil {
			e.t.Fatalf("Write: %v", err)
		}
		same(e.t, e.read("Patient", "a"), a)
	}},

	{name: "the version read inside Write decides the next Put", run: func(e *env) {
		v1 := e.create("Patient", "p")
		var put *fhir.Resource
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			cur, err := tx.Read("Patient", "p")
			if err != nil {
				return err
			}
			put = e.next(cur)
			return tx.Put(put)
		})
		if err != nil {
			e.t.Fatalf("Write: %v", err)
		}
		same(e.t, e.read("Patient", "p"), put)
		e.onlyVersions("Patient", "p", put, v1)
	}},
}

// noTrace checks that none of the versions can be found by Read, VRead,
// Search or History.
func (e *env) noTrace(rs ...*fhir.Resource) {
	e.t.Helper()
	for _, r := range rs {
		if got, err := e.s.Read(e.ctx, r.Type, r.ID); !errors.Is(err, fhir.ErrNotFound) {
			e.t.Errorf("Read %s: got %v, err = %v; want ErrNotFound", r.Key(), got, err)
		}
		if _, err := e.s.VRead(e.ctx, r.Type, r.ID, r.Version); !errors.Is(err, fhir.ErrNotFound) {
			e.t.Errorf("VRead %s: err = %v, want ErrNotFound", versionKey(r), err)
		}
		if got := e.search(fhir.Query{Type: r.Type, IDs: []string{r.ID}}); len(got) != 0 {
			e.t.Errorf("Search for %s = %v, want nothing", r.Key(), keys(got))
		}
		if got := e.walk(fhir.HistoryQuery{Type: r.Type, ID: r.ID}, 0); len(got) != 0 {
			e.t.Errorf("history of %s = %v, want nothing", r.Key(), versionKeys(got))
		}
	}
}
