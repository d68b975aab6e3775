package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

// An AuditEvent is stored compressed with the type's dictionary, and read
// back byte for byte; one stored as plain JSON (an edit made in the
// database, say) reads as it is.
func TestLedgerEntriesAreStoredCompressed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, dict, _ := fhir.LedgerDictionary("AuditEvent")
	event := bytes.SplitN(dict, []byte("\n"), 2)[0] // a typical AuditEvent
	event = bytes.Replace(event, []byte(`"id":"01900000-0000-7000-8000-000000000000"`), []byte(`"id":"a1"`), 1)
	ctx := context.Background()
	put := func(id string, js []byte) {
		err := s.Write(ctx, func(tx fhir.Tx) error {
			return tx.Put(&fhir.Resource{Type: "AuditEvent", ID: id, Version: 1, Method: "POST", LastUpdated: storetest.Epoch, JSON: js})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("a1", event)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlitestore.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored []byte
	if err := db.QueryRow(`SELECT json FROM ledger WHERE id = 'a1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored[0] == '{' || len(stored)*5 > len(event) {
		t.Errorf("stored %d bytes for %d of JSON, starting %q: not compressed", len(stored), len(event), stored[:1])
	}
	for _, read := range []func() (*fhir.Resource, error){
		func() (*fhir.Resource, error) { return s.Read(ctx, "AuditEvent", "a1") },
		func() (*fhir.Resource, error) { return s.VRead(ctx, "AuditEvent", "a1", 1) },
		func() (*fhir.Resource, error) {
			rs, err := s.Search(ctx, fhir.Query{Type: "AuditEvent"})
			if err != nil || len(rs) != 1 {
				return nil, err
			}
			return rs[0], nil
		},
		func() (*fhir.Resource, error) {
			p, err := s.History(ctx, fhir.HistoryQuery{Type: "AuditEvent"})
			if err != nil || len(p.Entries) != 1 {
				return nil, err
			}
			return p.Entries[0], nil
		},
	} {
		r, err := read()
		if err != nil || r == nil || !bytes.Equal(r.JSON, event) {
			t.Errorf("read back: %v, %v", err, r)
		}
	}

	w, err := sql.Open("sqlite", filepath.Join(dir, sqlitestore.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	plain := strings.Replace(string(event), `"action":"C"`, `"action":"D"`, 1)
	if _, err := w.Exec(`UPDATE ledger SET json = ? WHERE id = 'a1'`, plain); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Read(ctx, "AuditEvent", "a1"); err != nil || string(r.JSON) != plain {
		t.Errorf("plain JSON in the row: %v, %v", err, r)
	}
	if _, err := w.Exec(`UPDATE ledger SET json = x'28b52ffd0000' WHERE id = 'a1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, "AuditEvent", "a1"); err == nil {
		t.Error("a corrupt row read without an error")
	}
}
