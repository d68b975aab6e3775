package mongostore

import (
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

// Search returns the current, not deleted resources matching q, ordered by
// type and id.
func (s *Store) Search(ctx context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	out, err := s.search(ctx, q)
	if err != nil {
		return nil, s.fail("search", err)
	}
	return out, nil
}

// searchFilter turns q into one filter on the resources collection. Every
// clause is plain equality, $in or a field value: nothing FerretDB v1 lacks.
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

// search runs q; ctx may carry a session inside a transaction.
//
// Sorting on _id ("Type/id") is sorting on type, then id: type names are
// letters only and '/' sorts before every letter.
func (s *Store) search(ctx context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	cur, err := s.resources.Find(ctx, searchFilter(q), opts)
	if err != nil {
		return nil, err
	}
	var docs []current
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]*fhir.Resource, len(docs))
	for i := range docs {
		out[i] = docs[i].resource()
	}
	return out, nil
}

// matches reports whether a resource (with its tokens) satisfies q, the
// same test the filter makes; the journal uses it to show a unit's own
// writes to its searches.
func matches(res *fhir.Resource, q fhir.Query) bool {
	if res.Deleted || (q.Type != "" && res.Type != q.Type) {
		return false
	}
	if len(q.IDs) > 0 && !slices.Contains(q.IDs, res.ID) {
		return false
	}
	if len(q.Tokens) > 0 {
		return slices.ContainsFunc(q.Tokens, func(want fhir.Token) bool {
			return slices.ContainsFunc(res.Tokens, func(have fhir.Token) bool {
				return have.Param == want.Param && have.Code == want.Code &&
					(want.System == "" || have.System == want.System)
			})
		})
	}
	return true
}

// sortResources orders by type, then id, as Search does.
func sortResources(rs []*fhir.Resource) {
	slices.SortFunc(rs, func(a, b *fhir.Resource) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
