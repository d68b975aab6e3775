package mongostore

import (
	"context"
	"math"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

// Searches selects how a search matches its clauses.
type Searches int

const (
	// SearchesAuto filters with $elemMatch where the server answers it
	// right (see detectSearch) and evaluates in Go otherwise.
	SearchesAuto Searches = iota
	// SearchesIndexed always filters with $elemMatch on the server.
	SearchesIndexed
	// SearchesScan always evaluates the clauses in Go.
	SearchesScan
)

func (m Searches) String() string {
	switch m {
	case SearchesIndexed:
		return "indexed"
	case SearchesScan:
		return "scan"
	}
	return "auto"
}

// searchIndexes serve the $elemMatch filters: multikey indexes whose
// bounds on idx.p and on a value field hold within one entry, for codes
// (tokens, references, uris, :exact), folded texts (prefixes, :text), the
// low end of ranges and the ids of local references.
var searchIndexes = [][]string{
	{"type", "idx.p", "idx.c"},
	{"type", "idx.p", "idx.t"},
	{"type", "idx.p", "idx.lo"},
	{"type", "idx.p", "idx.i"},
}

// IndexedSearch reports whether searches run as $elemMatch filters on the
// server (true) or are evaluated in Go (false).
func (s *Store) IndexedSearch() bool { return s.indexed }

// detectSearch decides how searches run and how entries keep infinite
// bounds. FerretDB v1 (buildInfo has ferretdbVersion) answers $elemMatch
// over sub-documents with an error, or wrongly when it has one field, and
// refuses infinite doubles: Go, and marked bounds. On any other server a
// probe decides (see probeSearch).
func (s *Store) detectSearch(ctx context.Context, m Searches) error {
	var info bson.Raw
	err := s.db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info)
	if err != nil && unavailable(err) {
		return err
	}
	if err == nil && isFerretDB(info) {
		s.markInf, s.indexed = true, m == SearchesIndexed
		return nil
	}
	switch m {
	case SearchesIndexed:
		s.indexed = true
	case SearchesScan:
		s.indexed = false
	default:
		ok, markInf, err := probeSearch(ctx, s.db.Collection(probesColl))
		if err != nil {
			return err
		}
		s.indexed, s.markInf = ok, markInf
	}
	return nil
}

// isFerretDB reads a buildInfo reply.
func isFerretDB(info bson.Raw) bool {
	_, err := info.LookupErr("ferretdbVersion")
	return err == nil
}

// probeSearch stores one document in coll and runs, through the code
// searches use, the queries that tell a server that answers $elemMatch
// filters right from one that does not: ok reports that it answered them
// all, and as it should. markInf reports that the server refused the
// document's infinite bound (then ok is false). A failure is an error
// only when the server could not be reached.
func probeSearch(ctx context.Context, coll *mongo.Collection) (ok, markInf bool, err error) {
	r := &fhir.Resource{Type: "Probe", ID: "p", Version: 1, Index: []fhir.IndexEntry{
		{Param: "a", Kind: fhir.TypeToken, System: "x", Code: "1"},
		{Param: "b", Kind: fhir.TypeToken, System: "y", Code: "2"},
		{Param: "d", Kind: fhir.TypeDate, Low: 10, High: math.Inf(1)},
	}}
	doc := newCurrent(r, "", "", false)
	_, err = coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc.Key}}, doc, options.Replace().SetUpsert(true))
	switch {
	case err != nil && unavailable(err):
		return false, false, err
	case mongo.IsDuplicateKeyError(err):
		// Another process upserted it at the same time.
	case err != nil:
		return false, true, nil
	}
	tok := func(param string, vs ...fhir.Value) fhir.Clause {
		return fhir.Clause{Param: param, Type: fhir.TypeToken, Values: vs}
	}
	anyCode := func(code string) fhir.Value { return fhir.Value{AnySystem: true, Code: code} }
	for _, c := range []struct {
		q    fhir.Query
		want bool
	}{
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{tok("a", anyCode("1"))}}, true},
		// Both conditions in one entry: a has code 1, b has code 2.
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{tok("a", anyCode("2"))}}, false},
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{tok("a", fhir.Value{AnySystem: true})}}, true},
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{tok("c", fhir.Value{AnySystem: true})}}, false},
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{tok("a", anyCode("9"), fhir.Value{System: "x", Code: "1"})},
			Sort: []fhir.SortKey{{Param: "b", Type: fhir.TypeToken}}}, true},
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{tok("b", fhir.Value{System: "x", Code: "2"})}}, false},
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{{Param: "d", Type: fhir.TypeDate,
			Values: []fhir.Value{{Prefix: "gt", Low: 0, High: 1e300}}}}}, true},
		{fhir.Query{Type: "Probe", Clauses: []fhir.Clause{{Param: "a", Type: fhir.TypeToken, Modifier: "not",
			Values: []fhir.Value{anyCode("1")}}}}, false},
	} {
		hs, err := findIndexed(ctx, coll, c.q, false)
		if err != nil {
			if unavailable(err) {
				return false, false, err
			}
			return false, false, nil
		}
		got := slices.ContainsFunc(hs, func(h *hit) bool { return h.res.Key() == doc.Key })
		if got != c.want || len(hs) > 1 {
			return false, false, nil
		}
	}
	return true, false, nil
}
