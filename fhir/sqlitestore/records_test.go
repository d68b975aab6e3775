package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

func TestRecordsContract(t *testing.T) {
	storetest.RunRecords(t, func(t *testing.T) fhir.Records {
		s := openTemp(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

// TestRecordsAreAddedToAnExistingDatabase opens a file written before
// the records tables existed: Open adds them, and what was there stays.
func TestRecordsAreAddedToAnExistingDatabase(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := &fhir.Resource{Type: "Patient", ID: "a", Version: 1, Method: "POST", JSON: []byte(`{"resourceType":"Patient","id":"a"}`),
		LastUpdated: storetest.Epoch}
	if err := s.Write(ctx, func(tx fhir.Tx) error { return tx.Put(r) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlitestore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, tab := range []string{"record", "record_attr"} {
		if _, err := db.Exec("DROP TABLE " + tab); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	if s, err = sqlitestore.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Read(ctx, "Patient", "a"); err != nil {
		t.Fatalf("Read after reopening: %v", err)
	}
	rec := &fhir.Record{Kind: "oauth.client", Key: "app", Data: []byte(`{}`), Attrs: map[string]string{"owner": "x"}}
	if err := s.PutRecord(ctx, rec); err != nil {
		t.Fatalf("PutRecord after reopening: %v", err)
	}
	if found, err := s.FindRecords(ctx, "oauth.client", "owner", "x"); err != nil || len(found) != 1 {
		t.Fatalf("FindRecords: %v, %v", found, err)
	}
}

// TestRecordLookupsUseTheirKeys checks the plans of the record reads: the
// access token lookup of every request, and FindRecords, in key order
// without a sort.
func TestRecordLookupsUseTheirKeys(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, c := range []struct {
		name, query string
		want        []string
		never       []string
	}{
		{"get", sqlitestore.GetRecordSQL, []string{"USING PRIMARY KEY (kind=? AND key=?)"}, []string{"SCAN"}},
		{"find", sqlitestore.FindRecordsSQL, []string{"SEARCH a USING PRIMARY KEY (kind=? AND name=? AND value=?)",
			"SEARCH r USING PRIMARY KEY (kind=? AND key=?)"}, []string{"SCAN", "TEMP B-TREE"}},
		{"list", sqlitestore.ListRecordsSQL, []string{"USING PRIMARY KEY (kind=?)"}, []string{"SCAN", "TEMP B-TREE"}},
	} {
		plan, err := sqlitestore.PlanOf(s, c.query)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: plan lacks %q:\n%s", c.name, w, plan)
			}
		}
		for _, n := range c.never {
			if strings.Contains(plan, n) {
				t.Errorf("%s: plan has %q:\n%s", c.name, n, plan)
			}
		}
	}
}

// TestExpiredRecordsArePurgedByWrites checks that a write removes expired
// records, attributes included, rather than only hiding them.
func TestExpiredRecordsArePurgedByWrites(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		old := &fhir.Record{Kind: "oauth.code", Key: k, Data: []byte(`{}`), Expires: time.Now().Add(-time.Hour),
			Attrs: map[string]string{"client": "x"}}
		if err := s.PutRecord(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	sqlitestore.ForgetPurge(s)
	if err := s.PutRecord(ctx, &fhir.Record{Kind: "oauth.code", Key: "d", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	records, attrs, err := sqlitestore.RecordRows(s)
	if err != nil {
		t.Fatal(err)
	}
	if records != 1 || attrs != 0 {
		t.Errorf("after the purge: %d record rows and %d attribute rows, want 1 and 0", records, attrs)
	}
}
