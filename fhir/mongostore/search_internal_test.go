package mongostore

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
)

func named(id string, v int, names ...string) *fhir.Resource {
	r := patient(id, v)
	for _, n := range names {
		r.Index = append(r.Index, fhir.IndexEntry{Param: "name", Kind: fhir.TypeString, Text: n, Code: n})
	}
	return r
}

func nameClause(prefix string) fhir.Clause {
	return fhir.Clause{Param: "name", Type: fhir.TypeString, Values: []fhir.Value{{Code: prefix}}}
}

var byName = fhir.SortKey{Param: "name", Type: fhir.TypeString}

func TestSearchCapabilityDetection(t *testing.T) {
	t.Run("buildInfo replies", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			info bson.D
			want bool
		}{
			{"MongoDB", bson.D{{Key: "version", Value: "7.0.4"}, {Key: "ok", Value: 1.0}}, false},
			{"FerretDB", bson.D{{Key: "version", Value: "7.0.42"}, {Key: "ferretdbVersion", Value: "v1.24.2"}}, true},
		} {
			raw, _ := bson.Marshal(tc.info)
			if got := isFerretDB(raw); got != tc.want {
				t.Errorf("%s: isFerretDB = %v, want %v", tc.name, got, tc.want)
			}
		}
	})
	if uriFromEnv() {
		t.Skip("MONGO_TEST_URI is set: the server is not FerretDB")
	}
	t.Run("FerretDB: searches in Go, infinite bounds marked", func(t *testing.T) {
		s, _ := openTest(t, Options{})
		if s.IndexedSearch() || !s.markInf {
			t.Fatalf("IndexedSearch() = %v, markInf = %v; want false, true", s.IndexedSearch(), s.markInf)
		}
		names, err := s.db.ListCollectionNames(context.Background(), bson.D{{Key: "name", Value: probesColl}})
		if err != nil || len(names) != 0 {
			t.Errorf("collections %v, %v: buildInfo alone decides on FerretDB", names, err)
		}
	})
	t.Run("the probe finds FerretDB's $elemMatch wanting", func(t *testing.T) {
		s, _ := openTest(t, Options{})
		ok, _, err := probeSearch(context.Background(), s.db.Collection(probesColl))
		if err != nil || ok {
			t.Fatalf("probeSearch = %v, %v; want false, nil", ok, err)
		}
	})
	t.Run("forced", func(t *testing.T) {
		if s, _ := openTest(t, Options{Search: SearchesScan}); s.IndexedSearch() {
			t.Error("IndexedSearch() with SearchesScan")
		}
		s, _ := openTest(t, Options{Search: SearchesIndexed})
		if !s.IndexedSearch() {
			t.Fatal("not IndexedSearch() with SearchesIndexed")
		}
		put(t, s, named("a", 1, "smith"))
		// Two fields in one $elemMatch: FerretDB refuses the filter.
		_, err := s.Search(context.Background(), fhir.Query{Type: "Patient", Clauses: []fhir.Clause{nameClause("smi")}})
		if err == nil {
			t.Error("FerretDB ran an $elemMatch over two fields")
		}
	})
}

func TestSearchTooBroadForTheScan(t *testing.T) {
	s, _ := openTest(t, Options{ScanLimit: 3})
	if s.IndexedSearch() {
		t.Skip("the server runs $elemMatch: no scan limit")
	}
	ctx := context.Background()
	put(t, s, named("a", 1, "smith"), named("b", 1, "jones"), named("c", 1, "smith"), named("d", 1, "brown"))
	for name, q := range map[string]fhir.Query{
		"a clause on every patient": {Type: "Patient", Clauses: []fhir.Clause{nameClause("smi")}},
		"sorted":                    {Type: "Patient", Sort: []fhir.SortKey{byName}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Search(ctx, q)
			var fe *fhir.Error
			if !errors.As(err, &fe) || fe.Code != fhir.CodeTooCostly || fe.HTTPStatus() != http.StatusBadRequest {
				t.Fatalf("Search: %v, want a too-costly fhir.Error with status 400", err)
			}
			if len(q.Clauses) == 0 {
				return // the server counts
			}
			_, err = s.Count(ctx, q)
			if !errors.As(err, &fe) || fe.Code != fhir.CodeTooCostly {
				t.Fatalf("Count: %v, want too-costly", err)
			}
		})
	}
	t.Run("what the server narrows first is not counted", func(t *testing.T) {
		q := fhir.Query{Type: "Patient", Clauses: []fhir.Clause{{Param: "name", Type: fhir.TypeString, Modifier: "exact",
			Values: []fhir.Value{{Code: "smith"}}}}}
		got, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, got, "Patient/a/1", "Patient/c/1")
	})
	t.Run("a page found before the limit, in id order", func(t *testing.T) {
		got, err := s.Search(ctx, fhir.Query{Type: "Patient", Clauses: []fhir.Clause{nameClause("smi")}, Offset: 1, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, got, "Patient/c/1")
	})
	t.Run("nor what has no clause", func(t *testing.T) {
		got, err := s.Search(ctx, fhir.Query{Type: "Patient", Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, got, "Patient/a/1", "Patient/b/1")
		if n, err := s.Count(ctx, fhir.Query{Type: "Patient", Limit: 2}); n != 4 || err != nil {
			t.Errorf("Count = %d, %v; want 4", n, err)
		}
		// Sort keys change no count: the server counts.
		if n, err := s.Count(ctx, fhir.Query{Type: "Patient", Sort: []fhir.SortKey{byName}}); n != 4 || err != nil {
			t.Errorf("Count sorted = %d, %v; want 4", n, err)
		}
	})
}

func TestSearchHonoursTheDeadline(t *testing.T) {
	s, _ := openTest(t, Options{})
	put(t, s, named("a", 1, "smith"))
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	q := fhir.Query{Type: "Patient", Clauses: []fhir.Clause{nameClause("smi")}, Sort: []fhir.SortKey{byName}}
	// The context's error as it is, as on SQLite: not the server's being
	// unavailable.
	if _, err := s.Search(ctx, q); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fhir.ErrUnavailable) {
		t.Errorf("Search: %v, want the deadline", err)
	}
	if _, err := s.Count(ctx, q); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fhir.ErrUnavailable) {
		t.Errorf("Count: %v, want the deadline", err)
	}
}

func TestUnitSearchesSortAndPageWithItsOwnWrites(t *testing.T) {
	s, _ := openTest(t, Options{})
	put(t, s, named("a", 1, "bb"), named("b", 1, "dd"), named("c", 1, "ff"), patient("e", 1))
	err := s.Write(context.Background(), func(tx fhir.Tx) error {
		if err := tx.Put(named("d", 1, "aa")); err != nil {
			return err
		}
		if err := tx.Put(named("b", 2, "zz")); err != nil {
			return err
		}
		for _, tc := range []struct {
			q    fhir.Query
			want []string
		}{
			{fhir.Query{Type: "Patient", Sort: []fhir.SortKey{byName}},
				[]string{"Patient/d/1", "Patient/a/1", "Patient/c/1", "Patient/b/2", "Patient/e/1"}},
			{fhir.Query{Type: "Patient", Sort: []fhir.SortKey{byName}, Offset: 1, Limit: 2},
				[]string{"Patient/a/1", "Patient/c/1"}},
			{fhir.Query{Type: "Patient", Sort: []fhir.SortKey{{Param: "name", Type: fhir.TypeString, Desc: true}}, Limit: 2},
				[]string{"Patient/b/2", "Patient/c/1"}},
			{fhir.Query{Type: "Patient", Offset: 3}, []string{"Patient/d/1", "Patient/e/1"}},
			{fhir.Query{Type: "Patient", Clauses: []fhir.Clause{nameClause("d"), nameClause("")}}, nil},
		} {
			got, err := tx.Search(tc.q)
			if err != nil {
				return err
			}
			sameKeys(t, got, tc.want...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScanHitsChangedBeforeTheyAreRead(t *testing.T) {
	s, _ := openTest(t, Options{})
	if s.IndexedSearch() {
		t.Skip("the server runs $elemMatch")
	}
	ctx := context.Background()
	put(t, s, named("a", 1, "smith"), named("b", 1, "smith"), named("c", 1, "smith"))
	q := fhir.Query{Type: "Patient", Clauses: []fhir.Clause{nameClause("smi")}}
	hs, err := s.scan(ctx, q)
	if err != nil || len(hs) != 3 {
		t.Fatalf("scan = %d hits, %v", len(hs), err)
	}
	put(t, s, named("a", 2, "smithers"), named("b", 2, "jones"))
	put(t, s, &fhir.Resource{Type: "Patient", ID: "c", Version: 2, LastUpdated: t0, Deleted: true, Method: "DELETE"})
	filled, err := s.fill(ctx, q, hs)
	if err != nil {
		t.Fatal(err)
	}
	got := resources(filled)
	sameKeys(t, got, "Patient/a/2")
	if got[0].JSON == nil {
		t.Error("no JSON")
	}
}
