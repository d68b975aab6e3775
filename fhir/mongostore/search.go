package mongostore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// Search returns the current, not deleted resources matching q: its type,
// ids, tokens and clauses, ordered by its sort keys and then by type and
// id, paged by its Offset and Limit. A clause or sort key the engine does
// not run is a *fhir.Error, as on the SQLite engine; so is a search that
// would examine more than the scan limit of resources on a server without
// $elemMatch (see Options.ScanLimit).
func (s *Store) Search(ctx context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	if fhir.IsLedger(q.Type) {
		out, err := s.searchLedger(ctx, q)
		if err != nil {
			return nil, s.searchFail(ctx, "search", err)
		}
		return out, nil
	}
	out, err := s.search(ctx, q)
	if err != nil {
		return nil, s.searchFail(ctx, "search", err)
	}
	return out, nil
}

// Count returns how many resources Search would return for q without its
// Offset and Limit.
func (s *Store) Count(ctx context.Context, q fhir.Query) (int, error) {
	if s.isClosed() {
		return 0, errClosed
	}
	if fhir.IsLedger(q.Type) {
		n, err := s.countLedger(ctx, q)
		if err != nil {
			return 0, s.searchFail(ctx, "count", err)
		}
		return n, nil
	}
	if err := checkQuery(q); err != nil {
		return 0, err
	}
	q.Sort, q.Offset, q.Limit = nil, 0, 0 // no bearing on the number
	var n int
	var err error
	if s.serverSide(q) {
		var c int64
		c, err = s.resources.CountDocuments(ctx, clausesFilter(q))
		n = int(c)
	} else {
		var hs []*hit
		hs, err = s.scan(ctx, q)
		n = len(hs)
	}
	if err != nil {
		return 0, s.searchFail(ctx, "count", err)
	}
	return n, nil
}

// searchFail wraps a failed search. One whose context ended answers the
// context's error as it is, as the SQLite engine does, so that the caller
// tells a search cut off by its deadline from a server that is down.
func (s *Store) searchFail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil && !s.isClosed() {
		return fmt.Errorf("mongostore: %s: %w", op, ctx.Err())
	}
	return s.fail(op, err)
}

// search runs q; ctx may carry a session inside a transaction.
func (s *Store) search(ctx context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	hs, err := s.find(ctx, q, false)
	if err != nil {
		return nil, err
	}
	return resources(hs), nil
}

// find runs q, one way or the other (see the package comment). withVals
// asks for the hits' sort values, for a unit of work that merges its own
// writes in.
func (s *Store) find(ctx context.Context, q fhir.Query, withVals bool) ([]*hit, error) {
	if err := checkQuery(q); err != nil {
		return nil, err
	}
	if s.serverSide(q) {
		return findIndexed(ctx, s.resources, q, withVals)
	}
	hs, err := s.scan(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.fill(ctx, q, page(hs, q.Offset, q.Limit))
}

// serverSide reports whether the server runs q: on a server with
// $elemMatch every query, elsewhere those without clauses or sort keys,
// whose filter is plain equality and $in.
func (s *Store) serverSide(q fhir.Query) bool {
	return s.indexed || len(q.Clauses) == 0 && len(q.Sort) == 0
}

// searchFilter turns the envelope criteria of q (type, ids, tokens) into a
// filter on the resources collection. Every clause is plain equality, $in
// or a field value: nothing FerretDB v1 lacks.
func searchFilter(q fhir.Query) bson.D {
	f := bson.D{{Key: "deleted", Value: false}}
	if q.Type != "" {
		f = append(f, bson.E{Key: "type", Value: q.Type})
	}
	switch {
	case len(q.IDs) == 1 && q.Type != "":
		// _id equality: the one filter FerretDB v1 answers without a scan.
		f = append(f, bson.E{Key: "_id", Value: resourceKey(q.Type, q.IDs[0])})
	case len(q.IDs) > 0 && q.Type != "":
		keys := make(bson.A, len(q.IDs))
		for i, id := range q.IDs {
			keys[i] = resourceKey(q.Type, id)
		}
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}})
	case len(q.IDs) > 0:
		f = append(f, bson.E{Key: "id", Value: bson.D{{Key: "$in", Value: q.IDs}}})
	}
	if len(q.Tokens) > 0 {
		keys := make(bson.A, len(q.Tokens))
		for i, t := range q.Tokens {
			keys[i] = tokenKey(t.Param, t.System, t.Code)
		}
		f = append(f, bson.E{Key: "keys", Value: bson.D{{Key: "$in", Value: keys}}})
	}
	return f
}

// findIndexed lets the server match, sort and page: the filter of
// clausesFilter, then sorted by _id ("Type/id" sorts by type, then id:
// type names are letters only and '/' sorts before every letter), or by
// the values sortPipeline computes first.
func findIndexed(ctx context.Context, coll *mongo.Collection, q fhir.Query, withVals bool) ([]*hit, error) {
	var cur *mongo.Cursor
	var err error
	if len(q.Sort) == 0 {
		opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: "idx", Value: 0}})
		if q.Offset > 0 {
			opts.SetSkip(int64(q.Offset))
		}
		if q.Limit > 0 {
			opts.SetLimit(int64(q.Limit))
		}
		cur, err = coll.Find(ctx, clausesFilter(q), opts)
	} else {
		cur, err = coll.Aggregate(ctx, sortPipeline(q, withVals), options.Aggregate().SetAllowDiskUse(true))
	}
	if err != nil {
		return nil, err
	}
	var docs []current
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]*hit, len(docs))
	for i := range docs {
		out[i] = &hit{res: docs[i].resource()}
		if withVals {
			out[i].vals = sortValues(decodeIndex(docs[i].Index), q.Sort)
		}
	}
	return out, nil
}

// sortPipeline matches, sorts and pages q on the server: for each sort key
// i, s<i> is the smallest value of the param's entries (the largest when
// descending) and m<i> whether there is none, so that those come last
// either way; then _id. withVals keeps idx in the results.
func sortPipeline(q fhir.Query, withVals bool) mongo.Pipeline {
	vals, flags := bson.D{}, bson.D{}
	order := bson.D{}
	drop := bson.D{}
	for i, k := range q.Sort {
		sv, mv := "s"+strconv.Itoa(i), "m"+strconv.Itoa(i)
		agg, dir := "$min", 1
		if k.Desc {
			agg, dir = "$max", -1
		}
		of := bson.D{{Key: "$filter", Value: bson.D{
			{Key: "input", Value: bson.D{{Key: "$ifNull", Value: bson.A{"$idx", bson.A{}}}}},
			{Key: "as", Value: "e"},
			{Key: "cond", Value: bson.D{{Key: "$eq", Value: bson.A{"$$e.p", k.Param}}}},
		}}}
		vals = append(vals, bson.E{Key: sv, Value: bson.D{{Key: agg, Value: bson.D{{Key: "$map", Value: bson.D{
			{Key: "input", Value: of}, {Key: "as", Value: "e"}, {Key: "in", Value: "$$e." + sortField(k)},
		}}}}}})
		flags = append(flags, bson.E{Key: mv, Value: bson.D{{Key: "$eq", Value: bson.A{"$" + sv, nil}}}})
		order = append(order, bson.E{Key: mv, Value: 1}, bson.E{Key: sv, Value: dir})
		drop = append(drop, bson.E{Key: sv, Value: 0}, bson.E{Key: mv, Value: 0})
	}
	order = append(order, bson.E{Key: "_id", Value: 1})
	if !withVals {
		drop = append(drop, bson.E{Key: "idx", Value: 0})
	}
	p := mongo.Pipeline{
		{{Key: "$match", Value: clausesFilter(q)}},
		{{Key: "$addFields", Value: vals}},
		{{Key: "$addFields", Value: flags}},
		{{Key: "$sort", Value: order}},
	}
	if q.Offset > 0 {
		p = append(p, bson.D{{Key: "$skip", Value: int64(q.Offset)}})
	}
	if q.Limit > 0 {
		p = append(p, bson.D{{Key: "$limit", Value: int64(q.Limit)}})
	}
	return append(p, bson.D{{Key: "$project", Value: drop}})
}

// DefaultScanLimit is Options.ScanLimit when zero.
const DefaultScanLimit = 50_000

// scan evaluates q in Go, for servers without $elemMatch over
// sub-documents: it reads the index entries (not the JSON) of the
// documents scanFilter selects, at most the scan limit of them, keeps
// those fhir/search.Match accepts and sorts them. The hits carry no JSON
// yet (see fill). Without sort keys and with a Limit, the documents come
// in _id order and the scan stops at the last match of the page.
func (s *Store) scan(ctx context.Context, q fhir.Query) ([]*hit, error) {
	opts := options.Find().
		SetProjection(bson.D{{Key: "json", Value: 0}}).
		SetLimit(int64(s.scanLimit) + 1)
	enough := 0
	if len(q.Sort) == 0 && q.Limit > 0 {
		enough = max(q.Offset, 0) + q.Limit
		opts.SetSort(bson.D{{Key: "_id", Value: 1}})
	}
	cur, err := s.resources.Find(ctx, scanFilter(q), opts)
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var hs []*hit
	n := 0
	for cur.Next(ctx) {
		if n++; n > s.scanLimit {
			return nil, s.tooBroad()
		}
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var c current
		if err := cur.Decode(&c); err != nil {
			return nil, err
		}
		ix := decodeIndex(c.Index)
		if !search.Match(ix, q) {
			continue
		}
		hs = append(hs, &hit{res: c.resource(), vals: sortValues(ix, q.Sort)})
		if len(hs) == enough {
			break
		}
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	sortHits(q.Sort, hs)
	return hs, nil
}

func (s *Store) tooBroad() error {
	return &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest,
		Diagnostics: fmt.Sprintf("the search is too broad for this server: it would examine more than %d resources; narrow the criteria", s.scanLimit)}
}

// maxPointReads is how many resources fill reads one by one (_id equality,
// which FerretDB v1 answers without a scan); more take one query.
const maxPointReads = 200

// fill reads the documents of the hits of a scan, JSON included. One that
// changed since the scan is checked again: it stays, as its new version,
// if that still matches q, and is left out otherwise.
func (s *Store) fill(ctx context.Context, q fhir.Query, hs []*hit) ([]*hit, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	docs := make(map[string]*current, len(hs))
	if len(hs) <= maxPointReads {
		for _, h := range hs {
			c, err := s.readCurrent(ctx, h.res.Type, h.res.ID)
			if err == nil {
				docs[c.Key] = c
			} else if !isNoDocuments(err) {
				return nil, err
			}
		}
	} else {
		keys := make(bson.A, len(hs))
		for i, h := range hs {
			keys[i] = h.res.Key()
		}
		cur, err := s.resources.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}})
		if err != nil {
			return nil, err
		}
		var all []current
		if err := cur.All(ctx, &all); err != nil {
			return nil, err
		}
		for i := range all {
			docs[all[i].Key] = &all[i]
		}
	}
	out := hs[:0:0]
	for _, h := range hs {
		c := docs[h.res.Key()]
		switch {
		case c == nil || c.Deleted:
			continue
		case c.Version != h.res.Version && !(keysMatch(c.Keys, q) && search.Match(decodeIndex(c.Index), q)):
			continue
		}
		out = append(out, &hit{res: c.resource(), vals: h.vals})
	}
	return out, nil
}

func isNoDocuments(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }

// keysMatch reports whether a document's token keys satisfy q.Tokens.
func keysMatch(keys []string, q fhir.Query) bool {
	if len(q.Tokens) == 0 {
		return true
	}
	return slices.ContainsFunc(q.Tokens, func(t fhir.Token) bool {
		return slices.Contains(keys, tokenKey(t.Param, t.System, t.Code))
	})
}

// matches reports whether a resource (with its tokens and index entries)
// satisfies q, the same test a search makes; the journal uses it to show a
// unit's own writes to its searches.
func matches(res *fhir.Resource, q fhir.Query) bool {
	return !res.Deleted && search.MatchResource(res, q)
}
