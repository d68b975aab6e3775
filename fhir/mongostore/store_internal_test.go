package mongostore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore/ferrettest"
)

func TestJSONIsKeptByteForByte(t *testing.T) {
	s, _ := openTest(t, Options{})
	raw := []byte(`{"resourceType":"Patient","id":"a","z":1.50,"a":1e2,"_birthDate":{"extension":[]},"s":"\u00e9\"<>"}`)
	put(t, s, &fhir.Resource{Type: "Patient", ID: "a", Version: 1, LastUpdated: t0, Method: "POST", JSON: raw})
	got, err := s.Read(context.Background(), "Patient", "a")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.JSON) != string(raw) {
		t.Fatalf("JSON = %s, want %s", got.JSON, raw)
	}
	if !got.LastUpdated.Equal(t0) || got.LastUpdated.Location() != time.UTC || got.Method != "POST" || got.Version != 1 || got.Deleted {
		t.Fatalf("envelope = %+v", got)
	}
}

func TestMicrosecondsSurvive(t *testing.T) {
	s, _ := openTest(t, Options{})
	lu := t0.Add(123456 * time.Microsecond)
	r := patient("a", 1)
	r.LastUpdated = lu
	put(t, s, r)
	got, err := s.VRead(context.Background(), "Patient", "a", 1)
	if err != nil || !got.LastUpdated.Equal(lu) {
		t.Fatalf("VRead = %+v, %v; want lastUpdated %v", got, err, lu)
	}
}

func TestDeletionIsAVersion(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	put(t, s, patient("a", 1))
	put(t, s, &fhir.Resource{Type: "Patient", ID: "a", Version: 2, LastUpdated: t0.Add(time.Hour), Deleted: true, Method: "DELETE"})
	got, err := s.Read(ctx, "Patient", "a")
	if err != nil || !got.Deleted || got.JSON != nil || got.Version != 2 {
		t.Fatalf("Read = %+v, %v; want deleted version 2 without JSON", got, err)
	}
	old, err := s.VRead(ctx, "Patient", "a", 1)
	if err != nil || old.Deleted || !strings.Contains(string(old.JSON), `"weight":1.50`) {
		t.Fatalf("VRead 1 = %+v, %v", old, err)
	}
	_, err = s.VRead(ctx, "Patient", "a", 3)
	wantErr(t, err, fhir.ErrNotFound)
	_, err = s.Read(ctx, "Patient", "nobody")
	wantErr(t, err, fhir.ErrNotFound)
}

func TestStaleVersionConflicts(t *testing.T) {
	s, _ := openTest(t, Options{})
	put(t, s, patient("a", 1))
	for name, r := range map[string]*fhir.Resource{
		"create over existing → conflict": patient("a", 1),
		"skip a version → conflict":       patient("a", 3),
		"version 0 → conflict":            patient("b", 0),
		"update of nothing → conflict":    patient("c", 2),
	} {
		t.Run(name, func(t *testing.T) {
			err := s.Write(context.Background(), func(tx fhir.Tx) error { return tx.Put(r) })
			wantErr(t, err, fhir.ErrVersionConflict)
		})
	}
}

func TestSearch(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	mrn := func(sys, code string) fhir.Token { return fhir.Token{Param: "identifier", System: sys, Code: code} }
	put(t, s,
		patient("b", 1, mrn("urn:mrn", "1")),
		patient("a", 1, mrn("urn:mrn", "2"), mrn("urn:other", "1")),
		patient("c", 1, mrn("", "1")),
		patient("p", 1, mrn("a|b", "c")),
		patient("q", 1, mrn("a", "b|c")),
		&fhir.Resource{Type: "Observation", ID: "a", Version: 1, LastUpdated: t0, JSON: []byte(`{}`), Tokens: []fhir.Token{mrn("urn:mrn", "1")}},
	)
	put(t, s, patient("d", 1, mrn("urn:mrn", "1")))
	put(t, s, &fhir.Resource{Type: "Patient", ID: "d", Version: 2, LastUpdated: t0.Add(time.Hour), Deleted: true, Method: "DELETE"})

	for _, tc := range []struct {
		name string
		q    fhir.Query
		want []string
	}{
		{"all of a type, by id, deleted left out", fhir.Query{Type: "Patient"}, []string{"Patient/a/1", "Patient/b/1", "Patient/c/1", "Patient/p/1", "Patient/q/1"}},
		{"limit", fhir.Query{Type: "Patient", Limit: 2}, []string{"Patient/a/1", "Patient/b/1"}},
		{"ids", fhir.Query{Type: "Patient", IDs: []string{"c", "a", "zz"}}, []string{"Patient/a/1", "Patient/c/1"}},
		{"one id", fhir.Query{Type: "Patient", IDs: []string{"b"}}, []string{"Patient/b/1"}},
		{"deleted id", fhir.Query{Type: "Patient", IDs: []string{"d"}}, nil},
		{"ids across types", fhir.Query{IDs: []string{"a"}}, []string{"Observation/a/1", "Patient/a/1"}},
		{"token with system", fhir.Query{Type: "Patient", Tokens: []fhir.Token{mrn("urn:mrn", "1")}}, []string{"Patient/b/1"}},
		{"token any system", fhir.Query{Type: "Patient", Tokens: []fhir.Token{mrn("", "1")}}, []string{"Patient/a/1", "Patient/b/1", "Patient/c/1"}},
		{"tokens are alternatives", fhir.Query{Type: "Patient", Tokens: []fhir.Token{mrn("urn:mrn", "1"), mrn("urn:mrn", "2")}}, []string{"Patient/a/1", "Patient/b/1"}},
		{"tokens and ids both apply", fhir.Query{Type: "Patient", IDs: []string{"a", "c"}, Tokens: []fhir.Token{mrn("urn:mrn", "1"), mrn("urn:mrn", "2")}}, []string{"Patient/a/1"}},
		{"token across types", fhir.Query{Tokens: []fhir.Token{mrn("urn:mrn", "1")}}, []string{"Observation/a/1", "Patient/b/1"}},
		{"a | in the system is not a separator", fhir.Query{Type: "Patient", Tokens: []fhir.Token{mrn("a|b", "c")}}, []string{"Patient/p/1"}},
		{"a | in the code is not a separator", fhir.Query{Type: "Patient", Tokens: []fhir.Token{mrn("a", "b|c")}}, []string{"Patient/q/1"}},
		{"other param does not match", fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "code", Code: "1"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Search(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			sameKeys(t, got, tc.want...)
		})
	}
}

func TestUnitIsAllOrNothing(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Write(ctx, func(tx fhir.Tx) error {
		if err := tx.Put(patient("a", 1)); err != nil {
			return err
		}
		if err := tx.Put(patient("b", 1)); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	_, err = s.Read(ctx, "Patient", "a")
	wantErr(t, err, fhir.ErrNotFound)
	h, err := s.History(ctx, fhir.HistoryQuery{})
	if err != nil || len(h.Entries) != 0 {
		t.Fatalf("history after a failed unit = %+v, %v", h, err)
	}
}

func TestUnitSeesItsOwnWrites(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	tok := fhir.Token{Param: "identifier", System: "urn:mrn", Code: "7"}
	put(t, s, patient("a", 1, tok), patient("b", 1))
	err := s.Write(ctx, func(tx fhir.Tx) error {
		if err := tx.Put(patient("c", 1, tok)); err != nil {
			return err
		}
		if err := tx.Put(patient("a", 2)); err != nil { // drops the token
			return err
		}
		got, err := tx.Read("Patient", "a")
		if err != nil || got.Version != 2 {
			t.Errorf("Read in unit = %+v, %v; want version 2", got, err)
		}
		found, err := tx.Search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{tok}})
		if err != nil {
			return err
		}
		sameKeys(t, found, "Patient/c/1")
		all, err := tx.Search(fhir.Query{Type: "Patient", Limit: 2})
		if err != nil {
			return err
		}
		sameKeys(t, all, "Patient/a/2", "Patient/b/1")
		if err := tx.Put(patient("a", 3)); err != nil { // twice in one unit
			return err
		}
		return tx.Put(patient("a", 3)) // and a stale one: conflict, unit goes on
	})
	wantErr(t, err, fhir.ErrVersionConflict)
	// fn returned the conflict, so nothing was stored.
	got, err := s.Read(ctx, "Patient", "a")
	if err != nil || got.Version != 1 {
		t.Fatalf("Read = %+v, %v; want version 1", got, err)
	}
	put(t, s, patient("a", 2), patient("a", 3))
	got, err = s.Read(ctx, "Patient", "a")
	if err != nil || got.Version != 3 {
		t.Fatalf("Read = %+v, %v; want version 3", got, err)
	}
}

func TestCapabilityDetection(t *testing.T) {
	t.Run("hello replies", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			hello bson.D
			want  bool
		}{
			{"standalone", bson.D{{Key: "isWritablePrimary", Value: true}}, false},
			{"replica set member", bson.D{{Key: "isWritablePrimary", Value: true}, {Key: "setName", Value: "rs0"}}, true},
			{"mongos", bson.D{{Key: "msg", Value: "isdbgrid"}}, true},
			{"empty set name", bson.D{{Key: "setName", Value: ""}}, false},
		} {
			raw, err := bson.Marshal(tc.hello)
			if err != nil {
				t.Fatal(err)
			}
			if got := supportsTransactions(raw); got != tc.want {
				t.Errorf("%s: supportsTransactions = %v, want %v", tc.name, got, tc.want)
			}
		}
	})
	t.Run("FerretDB has no setName → journal", func(t *testing.T) {
		if uriFromEnv() {
			t.Skip("MONGO_TEST_URI is set: the server is not FerretDB")
		}
		s, _ := openTest(t, Options{})
		if s.Transactions() {
			t.Fatal("Transactions() = true on FerretDB v1")
		}
	})
	t.Run("forced journal", func(t *testing.T) {
		s, _ := openTest(t, Options{Units: UnitsJournal})
		if s.Transactions() {
			t.Fatal("Transactions() = true with UnitsJournal")
		}
	})
}

func TestUnavailableServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200", "")
	wantErr(t, err, fhir.ErrUnavailable)
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s, _ := openTest(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Read(context.Background(), "Patient", "a")
	wantErr(t, err, fhir.ErrUnavailable)
	err = s.Write(context.Background(), func(tx fhir.Tx) error { return nil })
	wantErr(t, err, fhir.ErrUnavailable)
}

func TestDatabaseName(t *testing.T) {
	s, uri := openTest(t, Options{})
	if !strings.HasSuffix(uri, "/"+s.db.Name()) {
		t.Fatalf("database %q, URI %q: the URI's path must win", s.db.Name(), uri)
	}
}

func TestSeveralStoresShareOneDatabase(t *testing.T) {
	uri := ferrettest.Start(t)
	// Processes starting at once on a new database, then one more later:
	// each declares the indexes.
	stores := make([]*Store, 3)
	errs := make(chan error, len(stores))
	for i := range stores {
		go func() {
			s, err := OpenWith(context.Background(), uri, "", Options{})
			stores[i] = s
			errs <- err
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
	for _, s := range stores {
		t.Cleanup(func() { s.Close() })
	}
	put(t, stores[0], patient("a", 1))
	put(t, stores[1], patient("a", 2))
	late := openURI(t, uri, Options{})
	got, err := late.Read(context.Background(), "Patient", "a")
	if err != nil || got.Version != 2 {
		t.Fatalf("Read through another store = %+v, %v; want version 2", got, err)
	}
	err = stores[2].Write(context.Background(), func(tx fhir.Tx) error { return tx.Put(patient("a", 2)) })
	wantErr(t, err, fhir.ErrVersionConflict)
}
