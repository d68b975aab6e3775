package mongostore

import (
	"context"
	"encoding/base64"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

// Page sizes for History: Count 0 asks for DefaultPageSize entries, and no
// page holds more than MaxPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// History returns versions newest first by order key (see nextOrder). The cursor is the
// order key of the last entry of a page, so paging walks every version once
// even while new versions are written: those sort before the first page.
func (s *Store) History(ctx context.Context, q fhir.HistoryQuery) (*fhir.HistoryPage, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	n := q.Count
	if n <= 0 {
		n = DefaultPageSize
	}
	n = min(n, MaxPageSize)
	if fhir.IsLedger(q.Type) {
		return s.historyLedger(ctx, q, n)
	}

	f, err := historyFilter(q)
	if err != nil {
		return nil, err
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "order", Value: -1}}).
		SetLimit(int64(n + 1))
	cur, err := s.history.Find(ctx, f, opts)
	if err != nil {
		return nil, s.fail("history", err)
	}
	var docs []version
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail("history", err)
	}
	page := &fhir.HistoryPage{Entries: make([]*fhir.Resource, 0, min(len(docs), n))}
	for i := range docs {
		if i == n {
			page.Next = encodeCursor(docs[i-1].Order)
			break
		}
		page.Entries = append(page.Entries, docs[i].resource())
	}
	return page, nil
}

// historyFilter is the conjunction of the query's criteria.
func historyFilter(q fhir.HistoryQuery) (bson.D, error) {
	var and bson.A
	eq := func(k string, v any) { and = append(and, bson.D{{Key: k, Value: v}}) }
	if q.Type != "" {
		eq("type", q.Type)
		if q.ID != "" {
			eq("id", q.ID)
		}
	}
	if q.Cursor != "" {
		order, ok := decodeCursor(q.Cursor)
		if !ok {
			return nil, fhir.Errorf(fhir.CodeInvalid, "invalid history page cursor")
		}
		eq("order", bson.D{{Key: "$lt", Value: order}})
	}
	if !q.Since.IsZero() {
		eq("lastUpdated", bson.D{{Key: "$gte", Value: ceilMicros(q.Since)}})
	}
	if !q.AtStart.IsZero() || !q.AtEnd.IsZero() {
		eq("$or", atFilter(q))
	}
	if len(and) == 0 {
		return bson.D{}, nil
	}
	if len(and) == 1 {
		return and[0].(bson.D), nil
	}
	return bson.D{{Key: "$and", Value: and}}, nil
}

// atFilter keeps the versions current at some time in [AtStart, AtEnd):
// those written in that range, and the newest version of each resource
// written before AtStart, which is the one whose successor (Until) came at
// or after AtStart, or that has none.
func atFilter(q fhir.HistoryQuery) bson.A {
	var in bson.D
	switch {
	case !q.AtStart.IsZero() && !q.AtEnd.IsZero():
		in = bson.D{{Key: "lastUpdated", Value: bson.D{
			{Key: "$gte", Value: ceilMicros(q.AtStart)},
			{Key: "$lt", Value: ceilMicros(q.AtEnd)},
		}}}
	case !q.AtStart.IsZero():
		in = bson.D{{Key: "lastUpdated", Value: bson.D{{Key: "$gte", Value: ceilMicros(q.AtStart)}}}}
	default:
		in = bson.D{{Key: "lastUpdated", Value: bson.D{{Key: "$lt", Value: ceilMicros(q.AtEnd)}}}}
	}
	or := bson.A{in}
	if !q.AtStart.IsZero() {
		start := ceilMicros(q.AtStart)
		or = append(or, bson.D{
			{Key: "lastUpdated", Value: bson.D{{Key: "$lt", Value: start}}},
			{Key: "until", Value: bson.D{{Key: "$gte", Value: start}}},
		})
	}
	return or
}

func encodeCursor(order string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(order))
}

func decodeCursor(c string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) <= orderPrefixLen || !utf8.Valid(b) {
		return "", false
	}
	for _, ch := range b[:orderPrefixLen] {
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return "", false
		}
	}
	return string(b), true
}
