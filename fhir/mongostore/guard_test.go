package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
)

// unitsUnderTest are the ways of making units that the server allows:
// the journal always, transactions too on a replica set (MONGO_TEST_URI).
func unitsUnderTest(t *testing.T) []Units {
	t.Helper()
	s, _ := openTest(t, Options{})
	if s.Transactions() {
		return []Units{UnitsTransactions, UnitsJournal}
	}
	return []Units{UnitsJournal}
}

// retry runs a unit until it does not lose a race, as fhir/rest does.
func retry(s *Store, fn func(tx fhir.Tx) error) error {
	for i := 0; ; i++ {
		err := s.Write(context.Background(), fn)
		if !errors.Is(err, fhir.ErrVersionConflict) || i == 50 {
			return err
		}
		time.Sleep(time.Duration(1+i%5) * time.Millisecond)
	}
}

// race runs fn in n goroutines released at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func TestConcurrentConditionalCreates(t *testing.T) {
	const writers = 8
	mrn := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "X"}
	for _, units := range unitsUnderTest(t) {
		t.Run(units.String(), func(t *testing.T) {
			t.Run("search by identifier, create with a new id → one is created", func(t *testing.T) {
				s, _ := openTest(t, Options{Units: units})
				created := make([]bool, writers)
				errs := race(writers, func(i int) error {
					return retry(s, func(tx fhir.Tx) error {
						created[i] = false
						found, err := tx.Search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{mrn}, Limit: 2})
						if err != nil || len(found) > 0 {
							return err
						}
						created[i] = true
						return tx.Put(patient(fmt.Sprintf("w%d", i), 1, mrn))
					})
				})
				checkErrs(t, errs)
				got, err := s.Search(context.Background(), fhir.Query{Type: "Patient", Tokens: []fhir.Token{mrn}})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 {
					t.Fatalf("%d patients with identifier urn:mrn|X (%v), want 1", len(got), keys(got))
				}
				n := 0
				for _, c := range created {
					if c {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d units report a creation, want 1", n)
				}
			})
			t.Run("search by id, create that id → one version 1", func(t *testing.T) {
				s, _ := openTest(t, Options{Units: units})
				errs := race(writers, func(i int) error {
					return retry(s, func(tx fhir.Tx) error {
						found, err := tx.Search(fhir.Query{Type: "Patient", IDs: []string{"x"}, Limit: 2})
						if err != nil || len(found) > 0 {
							return err
						}
						r := patient("x", 1, mrn)
						r.Method = fmt.Sprintf("POST%d", i)
						return tx.Put(r)
					})
				})
				checkErrs(t, errs)
				got, err := s.Search(context.Background(), fhir.Query{Type: "Patient"})
				if err != nil {
					t.Fatal(err)
				}
				sameKeys(t, got, "Patient/x/1")
				instanceHistory(t, s, "x", "Patient/x/1")
			})
		})
	}
}

func checkErrs(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
}

// conditionalCreate is a unit that creates r unless a search for q finds
// something.
func conditionalCreate(q fhir.Query, r *fhir.Resource) func(tx fhir.Tx) error {
	return func(tx fhir.Tx) error {
		found, err := tx.Search(q)
		if err != nil || len(found) > 0 {
			return err
		}
		return tx.Put(r)
	}
}

func TestUnitsThatDecidedFromTheSameSearchConflict(t *testing.T) {
	byID := fhir.Query{Type: "Patient", IDs: []string{"x"}, Limit: 2}
	mrn := func(sys string) fhir.Query {
		return fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "identifier", System: sys, Code: "X"}}, Limit: 2}
	}
	tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "X"}
	for _, units := range unitsUnderTest(t) {
		for _, tc := range []struct {
			name        string
			first, then fhir.Query
			conflict    bool
		}{
			{"same identifier → conflict", mrn("urn:mrn"), mrn("urn:mrn"), true},
			{"identifier of any system, then of one → conflict", mrn(""), mrn("urn:mrn"), true},
			{"identifier of another system → conflict (one guard per code)", mrn("urn:other"), mrn("urn:mrn"), true},
			{"same id → conflict", byID, byID, true},
			{"whole type → conflict", fhir.Query{Type: "Patient"}, fhir.Query{Type: "Patient", Limit: 2}, true},
			{"another identifier → no conflict", fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "identifier", Code: "Y"}}}, mrn("urn:mrn"), false},
			{"another type → no conflict", fhir.Query{Type: "Observation", Tokens: []fhir.Token{tok}}, mrn("urn:mrn"), false},
		} {
			t.Run(units.String()+"/"+tc.name, func(t *testing.T) {
				s, _ := openTest(t, Options{Units: units})
				// The unit searches; before it commits, another that made
				// the same search commits a creation.
				err := s.Write(context.Background(), func(tx fhir.Tx) error {
					if _, err := tx.Search(tc.first); err != nil {
						return err
					}
					if err := s.Write(context.Background(), conditionalCreate(tc.then, patient("x", 1, tok))); err != nil {
						t.Fatalf("the other unit: %v", err)
					}
					return tx.Put(patient("a", 1, tok))
				})
				if !tc.conflict {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				wantErr(t, err, fhir.ErrVersionConflict)
				noTrace(t, s, "a")
				if n := journals(t, s); n != 0 {
					t.Errorf("%d journals left", n)
				}
				// Run again, the unit finds the other's resource.
				if err := s.Write(context.Background(), conditionalCreate(tc.then, patient("a", 1, tok))); err != nil {
					t.Fatal(err)
				}
				noTrace(t, s, "a")
			})
		}
	}
}

func TestGuardKeys(t *testing.T) {
	tok := func(param, sys, code string) fhir.Token { return fhir.Token{Param: param, System: sys, Code: code} }
	clause := func(typ fhir.ParamType, mod string, vals ...fhir.Value) fhir.Clause {
		return fhir.Clause{Param: "identifier", Type: typ, Modifier: mod, Values: vals}
	}
	x := fhir.Value{System: "urn:mrn", Code: "X"}
	missing := true
	for _, tc := range []struct {
		name string
		q    fhir.Query
		want []string
	}{
		{"no type → none", fhir.Query{IDs: []string{"a"}, Tokens: []fhir.Token{tok("identifier", "", "X")}}, nil},
		{"ids", fhir.Query{Type: "Patient", IDs: []string{"a", "b"}}, []string{"Patient/a", "Patient/b"}},
		{"tokens, the system left out", fhir.Query{Type: "Patient", Tokens: []fhir.Token{tok("identifier", "urn:mrn", "X"), tok("identifier", "", "Y")}},
			[]string{"Patient|identifier||X", "Patient|identifier||Y"}},
		{"a | in a code is escaped", fhir.Query{Type: "Patient", Tokens: []fhir.Token{tok("identifier", "", "a|b")}}, []string{`Patient|identifier||a\|b`}},
		{"ids and tokens", fhir.Query{Type: "Patient", IDs: []string{"a"}, Tokens: []fhir.Token{tok("identifier", "", "X")}}, []string{"Patient/a", "Patient|identifier||X"}},
		{"token clause naming codes, as tokens", fhir.Query{Type: "Patient", Clauses: []fhir.Clause{clause(fhir.TypeToken, "", x, fhir.Value{AnySystem: true, Code: "Y"})}},
			[]string{"Patient|identifier||X", "Patient|identifier||Y"}},
		{"token clause with a value without code → type", fhir.Query{Type: "Patient", Clauses: []fhir.Clause{clause(fhir.TypeToken, "", x, fhir.Value{System: "urn:mrn"})}}, []string{"Patient"}},
		{"token clause :not → type", fhir.Query{Type: "Patient", Clauses: []fhir.Clause{clause(fhir.TypeToken, "not", x)}}, []string{"Patient"}},
		{"missing → type", fhir.Query{Type: "Patient", Clauses: []fhir.Clause{{Param: "identifier", Type: fhir.TypeToken, Missing: &missing}}}, []string{"Patient"}},
		{"string clause → type", fhir.Query{Type: "Patient", Clauses: []fhir.Clause{clause(fhir.TypeString, "", fhir.Value{Code: "smith"})}}, []string{"Patient"}},
		{"string and token clauses → the token's", fhir.Query{Type: "Patient", Clauses: []fhir.Clause{clause(fhir.TypeString, "", fhir.Value{Code: "smith"}), clause(fhir.TypeToken, "", x)}},
			[]string{"Patient|identifier||X"}},
		{"whole type", fhir.Query{Type: "Patient"}, []string{"Patient"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := guardKeys(tc.q); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Fatalf("guardKeys = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGuardIDsHoldNoIdentifierValues(t *testing.T) {
	long := strings.Repeat("9", 5000)
	for key, prefix := range map[string]string{
		"Patient|identifier||MRN-12345": "Patient:",
		"Patient|identifier||" + long:   "Patient:",
		"Patient/abc":                   "Patient:",
		"Observation":                   "Observation:",
	} {
		id := guardID(key)
		if !strings.HasPrefix(id, prefix) || len(id) != len(prefix)+32 || strings.Contains(id, "MRN") {
			t.Errorf("guardID(%.40q) = %q", key, id)
		}
	}
	if guardID("Patient|identifier||X") == guardID("Patient|identifier||Y") {
		t.Error("two keys share a guard")
	}
}

func guardDocs(t *testing.T, s *Store) []guard {
	t.Helper()
	cur, err := s.guards.Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var gs []guard
	if err := cur.All(context.Background(), &gs); err != nil {
		t.Fatal(err)
	}
	return gs
}

func TestGuardsAreWrittenOnlyForSearchesOfUnitsThatWrite(t *testing.T) {
	for _, units := range unitsUnderTest(t) {
		t.Run(units.String(), func(t *testing.T) {
			s, _ := openTest(t, Options{Units: units})
			ctx := context.Background()
			tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "X"}
			q := fhir.Query{Type: "Patient", Tokens: []fhir.Token{tok}, Limit: 2}

			put(t, s, patient("a", 1, tok))
			put(t, s, patient("a", 2, tok))
			if err := s.Write(ctx, conditionalCreate(q, patient("b", 1, tok))); err != nil { // finds a
				t.Fatal(err)
			}
			if err := s.Write(ctx, func(tx fhir.Tx) error { // searches without a type
				if _, err := tx.Search(fhir.Query{Tokens: []fhir.Token{tok}}); err != nil {
					return err
				}
				return tx.Put(patient("c", 1))
			}); err != nil {
				t.Fatal(err)
			}
			if gs := guardDocs(t, s); len(gs) != 0 {
				t.Fatalf("guards %+v, want none: no unit both searched by type and wrote", gs)
			}

			// A unit that searches twice, by id and identifier, and writes
			// bumps each guard once.
			if err := s.Write(ctx, func(tx fhir.Tx) error {
				for range 2 {
					if _, err := tx.Search(fhir.Query{Type: "Patient", IDs: []string{"d"}, Tokens: []fhir.Token{{Param: "identifier", Code: "Y"}}}); err != nil {
						return err
					}
				}
				return tx.Put(patient("d", 1))
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ctx, conditionalCreate(fhir.Query{Type: "Patient", IDs: []string{"d"}}, patient("d", 1))); err != nil {
				t.Fatal(err) // finds d: no write, no bump
			}
			if err := s.Write(ctx, func(tx fhir.Tx) error {
				if _, err := tx.Search(fhir.Query{Type: "Patient", IDs: []string{"d"}}); err != nil {
					return err
				}
				return tx.Put(patient("d", 2))
			}); err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, g := range guardDocs(t, s) {
				got[g.ID] = g.N
			}
			want := map[string]int64{guardID("Patient/d"): 2, guardID("Patient|identifier||Y"): 1}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("guards %v, want %v", got, want)
			}
		})
	}
}

// The journal bumps a unit's guards before applying its versions; a unit
// that searches meanwhile may miss them, so it must not write.
func TestJournalGuardOfAUnitStillCommitting(t *testing.T) {
	s, _ := journalled(t)
	ctx := context.Background()
	tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "X"}
	q := fhir.Query{Type: "Patient", Tokens: []fhir.Token{tok}, Limit: 2}
	var during, readOnly error
	s.hook = func(step string, res *fhir.Resource) error {
		if step != stepHistory || res.ID != "a" {
			return nil
		}
		s.hook = nil
		// a's unit has bumped the guard and not yet written Patient/a.
		during = s.Write(ctx, conditionalCreate(q, patient("b", 1, tok)))
		readOnly = s.Write(ctx, func(tx fhir.Tx) error {
			_, err := tx.Search(q)
			return err
		})
		return nil
	}
	if err := s.Write(ctx, conditionalCreate(q, patient("a", 1, tok))); err != nil {
		t.Fatal(err)
	}
	wantErr(t, during, fhir.ErrVersionConflict)
	if readOnly != nil {
		t.Errorf("a unit that only searched: %v", readOnly)
	}
	noTrace(t, s, "b")
	// Once the unit has committed, the guard no longer stops anyone.
	if err := s.Write(ctx, func(tx fhir.Tx) error {
		if _, err := tx.Search(q); err != nil {
			return err
		}
		return tx.Put(patient("b", 1))
	}); err != nil {
		t.Fatal(err)
	}
}

func TestJournalGuardsOfAFailedUnit(t *testing.T) {
	tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "X"}
	q := fhir.Query{Type: "Patient", Tokens: []fhir.Token{tok}, IDs: []string{"a", "b"}, Limit: 2}
	lost := errors.New("connection lost")
	for _, tc := range []struct {
		name, step, key string
	}{
		{"failure at the first guard", stepGuard, ""},
		{"failure after the guards, inside a Put", stepCurrent, "Patient/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := journalled(t)
			ctx := context.Background()
			failAt(s, tc.step, tc.key, lost)
			if err := s.Write(ctx, conditionalCreate(q, patient("a", 1, tok))); err == nil {
				t.Fatal("Write succeeded")
			}
			s.hook = nil
			noTrace(t, s, "a")
			if n := journals(t, s); n != 0 {
				t.Errorf("%d journals left", n)
			}
			// Whatever the unit bumped stops nobody.
			if err := s.Write(ctx, conditionalCreate(q, patient("b", 1, tok))); err != nil {
				t.Fatal(err)
			}
			sameKeys(t, mustSearch(t, s, q), "Patient/b/1")
		})
	}
}

func TestJournalGuardsOfACrashedUnit(t *testing.T) {
	tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "X"}
	q := fhir.Query{Type: "Patient", Tokens: []fhir.Token{tok}, IDs: []string{"a", "b"}, Limit: 2}
	for _, tc := range []struct {
		name, step, key string
	}{
		// Between the two guards: the journal exists, the first guard is
		// marked with it.
		{"crash between two guards", stepGuard, ""},
		{"crash inside a Put", stepCurrent, "Patient/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crashed, uri := journalled(t)
			ctx := context.Background()
			n := 0
			crashed.hook = func(step string, res *fhir.Resource) error {
				if step == tc.step && (res == nil || res.Key() == tc.key) {
					if n++; tc.step != stepGuard || n == 2 {
						return errAbandon
					}
				}
				return nil
			}
			if err := crashed.Write(ctx, conditionalCreate(q, patient("a", 1, tok))); !errors.Is(err, errAbandon) {
				t.Fatalf("Write: %v, want it abandoned", err)
			}
			crashed.hook = nil

			// Until the journal is rolled back, a unit deciding from the
			// same search cannot commit...
			other := openURI(t, uri, Options{Units: UnitsJournal})
			wantErr(t, other.Write(ctx, conditionalCreate(q, patient("b", 1, tok))), fhir.ErrVersionConflict)
			// ...nor from a search of the first key only (guards are
			// bumped in key order: Patient/a, Patient/b, Patient|...).
			wantErr(t, other.Write(ctx, conditionalCreate(fhir.Query{Type: "Patient", IDs: []string{"a"}}, patient("a", 1))), fhir.ErrVersionConflict)

			// Then it can, and the crashed unit has left nothing.
			later := openURI(t, uri, Options{Units: UnitsJournal, Now: func() time.Time { return time.Now().Add(time.Hour) }})
			if err := later.Write(ctx, conditionalCreate(q, patient("b", 1, tok))); err != nil {
				t.Fatal(err)
			}
			noTrace(t, later, "a")
			sameKeys(t, mustSearch(t, later, q), "Patient/b/1")
		})
	}
}

func mustSearch(t *testing.T, s *Store, q fhir.Query) []*fhir.Resource {
	t.Helper()
	got, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestGuardSwapIsClaimedWithoutTransactions: a unit that bumps a guard
// from n to n+1 without server transactions first claims that swap, so
// that on FerretDB v1 (a conditional update is a find, then a write) two
// units that saw n cannot both swap it. A claim held (as by a unit in the
// middle of its swap, or one that died there) makes the bump a conflict
// and writes nothing, until the claim is older than the lease.
func TestGuardSwapIsClaimedWithoutTransactions(t *testing.T) {
	clock := &testClock{now: t0}
	s, _ := openTest(t, Options{Units: UnitsJournal, Now: clock.Now, Lease: 10 * time.Second})
	ctx := context.Background()
	byID := fhir.Query{Type: "Patient", IDs: []string{"d"}, Limit: 2}
	update := func(version int) func(tx fhir.Tx) error {
		return func(tx fhir.Tx) error {
			if _, err := tx.Search(byID); err != nil {
				return err
			}
			return tx.Put(patient("d", version))
		}
	}
	if err := s.Write(ctx, update(1)); err != nil { // creates the guard, n = 1
		t.Fatal(err)
	}
	held := recordClaim{ID: "guard|2|" + guardID("Patient/d"), Owner: "other", Created: micros(clock.Now())}
	if _, err := s.rec.claims.InsertOne(ctx, held); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, update(2)); !errors.Is(err, fhir.ErrVersionConflict) {
		t.Fatalf("bump while another unit holds the swap: %v, want ErrVersionConflict", err)
	}
	if got, err := s.Read(ctx, "Patient", "d"); err != nil || got.Version != 1 {
		t.Fatalf("after the refused unit: %+v, %v; want version 1", got, err)
	}
	for _, g := range guardDocs(t, s) {
		if g.N != 1 {
			t.Fatalf("guard %s at %d after the refused unit, want 1", g.ID, g.N)
		}
	}
	clock.Add(11 * time.Second)
	if err := s.Write(ctx, update(2)); err != nil {
		t.Fatalf("bump once the claim is past the lease: %v", err)
	}
	if gs := guardDocs(t, s); len(gs) != 1 || gs[0].N != 2 {
		t.Fatalf("guards %+v, want one at 2", gs)
	}
	if n := countDocs(t, s, claimsColl); n != 0 {
		t.Errorf("%d claims left after the bump, want 0", n)
	}
}
