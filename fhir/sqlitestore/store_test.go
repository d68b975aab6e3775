package sqlitestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

func openTemp(tb testing.TB) *sqlitestore.Store {
	tb.Helper()
	s, err := sqlitestore.Open(filepath.Join(tb.TempDir(), "data"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fhir.Store { return openTemp(t) })
	storetest.RunSearch(t, func(t *testing.T) fhir.Store { return openTemp(t) })
}

func TestOpenCreatesTheDirectoryAndOneDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, sqlitestore.FileName)); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := &fhir.Resource{Type: "Patient", ID: "a", Version: 1, Method: "POST", JSON: []byte(`{"resourceType":"Patient","id":"a"}`),
		LastUpdated: storetest.Epoch, Tokens: []fhir.Token{{Param: "identifier", System: "urn:mrn", Code: "1"}},
		Index: []fhir.IndexEntry{{Param: "name", Kind: fhir.TypeString, Text: "smith", Code: "Smith"}}}
	if err := s.Write(ctx, func(tx fhir.Tx) error { return tx.Put(r) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = sqlitestore.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	found, err := s.Search(ctx, fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "identifier", Code: "1"}}})
	if err != nil || len(found) != 1 || string(found[0].JSON) != string(r.JSON) || !found[0].LastUpdated.Equal(r.LastUpdated) {
		t.Fatalf("after reopening: %v, %v", found, err)
	}
	found, err = s.Search(ctx, fhir.Query{Type: "Patient", Clauses: []fhir.Clause{{Param: "name", Type: fhir.TypeString,
		Values: []fhir.Value{{Code: "smi"}}}}})
	if err != nil || len(found) != 1 {
		t.Fatalf("search by index entry after reopening: %v, %v", found, err)
	}
}

func TestCallsAfterCloseAreUnavailable(t *testing.T) {
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Read(ctx, "Patient", "a"); !errors.Is(err, fhir.ErrUnavailable) {
		t.Errorf("Read: %v", err)
	}
	if err := s.Write(ctx, func(fhir.Tx) error { return nil }); !errors.Is(err, fhir.ErrUnavailable) {
		t.Errorf("Write: %v", err)
	}
	if _, err := s.Count(ctx, fhir.Query{}); !errors.Is(err, fhir.ErrUnavailable) {
		t.Errorf("Count: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriteGivesUpWhenItsContextEnds(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r := &fhir.Resource{Type: "Patient", ID: "a", Version: 1, Method: "POST", JSON: []byte(`{}`), LastUpdated: storetest.Epoch}
	err := s.Write(context.Background(), func(tx fhir.Tx) error {
		cancel()
		return s.Write(ctx, func(fhir.Tx) error { return nil }) // waits for the unit in progress
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("nested Write with a cancelled context: %v", err)
	}
	// A Put after the context of its unit ended fails, and the unit with it.
	ctx, cancel = context.WithCancel(context.Background())
	err = s.Write(ctx, func(tx fhir.Tx) error {
		cancel()
		_ = tx.Put(r) // ignored on purpose: the unit must fail all the same
		return nil
	})
	if err == nil {
		t.Fatal("Write whose context ended: no error")
	}
	if _, err := s.Read(context.Background(), "Patient", "a"); !errors.Is(err, fhir.ErrNotFound) {
		t.Fatalf("Read: %v, want ErrNotFound", err)
	}
}

func TestTxKeptPastItsUnitCannotWrite(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	var kept fhir.Tx
	if err := s.Write(context.Background(), func(tx fhir.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	r := &fhir.Resource{Type: "Patient", ID: "a", Version: 1, Method: "POST", JSON: []byte(`{}`), LastUpdated: storetest.Epoch}
	if err := kept.Put(r); err == nil {
		t.Fatal("Put through a tx whose unit ended: no error")
	}
	if _, err := s.Read(context.Background(), "Patient", "a"); !errors.Is(err, fhir.ErrNotFound) {
		t.Fatalf("Read: %v, want ErrNotFound", err)
	}
}

func TestConnectionSettings(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, c := range []struct{ pragma, writer, reader string }{
		{"journal_mode", "wal", "wal"},
		{"synchronous", "2", ""}, // FULL; readers never commit
		{"busy_timeout", "10000", "10000"},
		{"foreign_keys", "0", "0"},
		{"query_only", "0", "1"},
	} {
		w, r, err := sqlitestore.Pragmas(s, c.pragma)
		if err != nil {
			t.Fatal(err)
		}
		if w != c.writer || (c.reader != "" && r != c.reader) {
			t.Errorf("PRAGMA %s: writer %s, reader %s; want %s, %s", c.pragma, w, r, c.writer, c.reader)
		}
	}
}

func TestContractLedger(t *testing.T) {
	storetest.RunLedger(t, func(t *testing.T) fhir.Store { return openTemp(t) })
}
