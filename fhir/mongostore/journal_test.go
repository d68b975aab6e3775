package mongostore

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
)

// The journal is what units of work use on FerretDB; these tests force it
// so that they test it on a replica set too.

func journalled(t *testing.T) (*Store, string) {
	t.Helper()
	return openTest(t, Options{Units: UnitsJournal})
}

// failAt makes the given step of the Put of key fail with err.
func failAt(s *Store, step, key string, err error) {
	s.hook = func(st string, res *fhir.Resource) error {
		if st == step && (res == nil || res.Key() == key) {
			return err
		}
		return nil
	}
}

func putAll(s *Store, rs ...*fhir.Resource) error {
	return s.Write(context.Background(), func(tx fhir.Tx) error {
		for _, r := range rs {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// noTrace checks that nothing of typ/id was stored: no current document,
// no history.
func noTrace(t *testing.T, s *Store, id string) {
	t.Helper()
	if _, err := s.Read(context.Background(), "Patient", id); !errors.Is(err, fhir.ErrNotFound) {
		t.Errorf("Read Patient/%s: err = %v, want not found", id, err)
	}
	h, err := s.History(context.Background(), fhir.HistoryQuery{Type: "Patient", ID: id})
	if err != nil || len(h.Entries) != 0 {
		t.Errorf("history of Patient/%s = %v, %v; want none", id, keysOf(h), err)
	}
}

func keysOf(h *fhir.HistoryPage) []string {
	if h == nil {
		return nil
	}
	return keys(h.Entries)
}

// instanceHistory checks the versions of Patient/id, newest first.
func instanceHistory(t *testing.T, s *Store, id string, want ...string) {
	t.Helper()
	h, err := s.History(context.Background(), fhir.HistoryQuery{Type: "Patient", ID: id})
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h.Entries, want...)
}

func journals(t *testing.T, s *Store) int64 {
	t.Helper()
	n, err := s.txlog.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func until(t *testing.T, s *Store, id string, v int) int64 {
	t.Helper()
	var h version
	if err := s.history.FindOne(context.Background(), bson.D{{Key: "_id", Value: versionKey("Patient", id, v)}}).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Until
}

func TestJournalConflictInThirdPutDiscardsTheFirstTwo(t *testing.T) {
	s, _ := journalled(t)
	put(t, s, patient("c", 1))
	// The unit checks c at version 1, then another writer stores c's
	// version 2 before the unit commits: the third Put loses at commit,
	// after the first two were applied.
	err := s.Write(context.Background(), func(tx fhir.Tx) error {
		for _, r := range []*fhir.Resource{patient("a", 1), patient("b", 1), patient("c", 2)} {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		other := patient("c", 2)
		other.Method = "PATCH"
		return putAll(s, other)
	})
	wantErr(t, err, fhir.ErrVersionConflict)
	noTrace(t, s, "a")
	noTrace(t, s, "b")
	c, err := s.Read(context.Background(), "Patient", "c")
	if err != nil || c.Version != 2 || c.Method != "PATCH" {
		t.Fatalf("Patient/c = %+v, %v; want the other writer's version 2", c, err)
	}
	instanceHistory(t, s, "c", "Patient/c/2", "Patient/c/1")
	if n := journals(t, s); n != 0 {
		t.Errorf("%d journals left", n)
	}
}

func TestJournalFailureAfterPartOfAPutUndoesIt(t *testing.T) {
	s, _ := journalled(t)
	ctx := context.Background()
	put(t, s, patient("a", 1), patient("c", 1))
	lost := errors.New("connection lost")
	// c's history entry is written and version 1's until set; then the
	// swap of the current document fails.
	failAt(s, stepCurrent, "Patient/c", lost)
	err := putAll(s, patient("a", 2), patient("a", 3), patient("b", 1), patient("c", 2))
	if err == nil {
		t.Fatal("Write succeeded")
	}
	s.hook = nil
	for _, id := range []string{"a", "c"} {
		got, err := s.Read(ctx, "Patient", id)
		if err != nil || got.Version != 1 {
			t.Errorf("Patient/%s = %+v, %v; want version 1", id, got, err)
		}
		instanceHistory(t, s, id, "Patient/"+id+"/1")
		if u := until(t, s, id, 1); u != openEnd {
			t.Errorf("Patient/%s version 1 until = %d, want open", id, u)
		}
	}
	noTrace(t, s, "b")
	if n := journals(t, s); n != 0 {
		t.Errorf("%d journals left", n)
	}
	// The resources are writable again.
	put(t, s, patient("a", 2), patient("c", 2), patient("b", 1))
}

func TestJournalOfACrashedProcessIsRolledBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		step string
		key  string
	}{
		{"crash inside the second Put", stepCurrent, "Patient/b"},
		{"crash after every Put, before the commit", stepCommit, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crashed, uri := journalled(t)
			ctx := context.Background()
			put(t, crashed, patient("c", 1))
			failAt(crashed, tc.step, tc.key, errAbandon)
			if err := putAll(crashed, patient("a", 1), patient("b", 1), patient("c", 2)); !errors.Is(err, errAbandon) {
				t.Fatalf("Write: %v, want it abandoned", err)
			}
			crashed.hook = nil
			if n := journals(t, crashed); n != 1 {
				t.Fatalf("%d journals after the crash, want 1", n)
			}

			// Until the journal is rolled back, its versions may be seen,
			// but nothing may be built on them.
			if _, err := crashed.Read(ctx, "Patient", "a"); err != nil {
				t.Fatalf("Read of a half-applied version: %v", err)
			}
			wantErr(t, putAll(crashed, patient("a", 2)), fhir.ErrVersionConflict)

			// A process starting within the lease leaves the journal alone.
			young := openURI(t, uri, Options{Units: UnitsJournal})
			if n := journals(t, young); n != 1 {
				t.Fatalf("%d journals after an Open within the lease, want 1", n)
			}

			// One starting after it rolls the unit back.
			later := openURI(t, uri, Options{Units: UnitsJournal, Now: func() time.Time { return time.Now().Add(time.Hour) }})
			if n := journals(t, later); n != 0 {
				t.Fatalf("%d journals after recovery, want 0", n)
			}
			noTrace(t, later, "a")
			noTrace(t, later, "b")
			got, err := later.Read(ctx, "Patient", "c")
			if err != nil || got.Version != 1 {
				t.Fatalf("Patient/c = %+v, %v; want version 1", got, err)
			}
			instanceHistory(t, later, "c", "Patient/c/1")
			if u := until(t, later, "c", 1); u != openEnd {
				t.Errorf("Patient/c version 1 until = %d, want open", u)
			}
			put(t, later, patient("a", 1), patient("b", 1), patient("c", 2))
		})
	}
}

func TestJournalClaimedForRollbackCannotCommit(t *testing.T) {
	s, _ := journalled(t)
	ctx := context.Background()
	// Another process decides the unit is abandoned while its owner is
	// about to commit: the claim wins, the owner reports failure.
	s.hook = func(step string, _ *fhir.Resource) error {
		if step != stepCommit {
			return nil
		}
		var j journal
		if err := s.txlog.FindOne(ctx, bson.D{}).Decode(&j); err != nil {
			return err
		}
		return s.claimAndRollback(ctx, j.ID)
	}
	err := putAll(s, patient("a", 1), patient("b", 1))
	wantErr(t, err, fhir.ErrUnavailable)
	s.hook = nil
	noTrace(t, s, "a")
	noTrace(t, s, "b")
	if n := journals(t, s); n != 0 {
		t.Errorf("%d journals left", n)
	}
}

func TestJournalUnitWithoutPutsWritesNothing(t *testing.T) {
	s, _ := journalled(t)
	if err := s.Write(context.Background(), func(tx fhir.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := journals(t, s); n != 0 {
		t.Errorf("%d journals", n)
	}
}
