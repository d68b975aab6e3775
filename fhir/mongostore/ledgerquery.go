package mongostore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

// Search and history of ledger types (see ledger.go). A search is one
// find on the ledger collection: type, ids, an $in (or an anchored
// regular expression, for a token of any system) on k per key criterion,
// the interval of fhir.LowScan on lo and each date criterion written on
// lo and hi by the rules of fhir.DateBound.Matches; sorted by lo and then
// _id, and paged, by the server. A server that refuses that filter, and a
// date criterion with an infinite bound, are answered by a scan of the
// candidates in the same order, matched in Go with the same rules.

// searchLedger runs q, over a ledger type.
func (s *Store) searchLedger(ctx context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	lq, err := fhir.CompileLedger(q)
	if err != nil {
		return nil, err
	}
	docs, err := s.findLedger(ctx, lq)
	if err != nil {
		return nil, err
	}
	return ledgerResources(docs), nil
}

// countLedger counts the matches of q, over a ledger type, without its
// Offset and Limit.
func (s *Store) countLedger(ctx context.Context, q fhir.Query) (int, error) {
	lq, err := fhir.CompileLedger(q)
	if err != nil {
		return 0, err
	}
	lq.Offset, lq.Limit = 0, 0
	f, exact := ledgerFilter(lq, true)
	if exact {
		n, err := s.ledger.CountDocuments(ctx, f)
		if err == nil || !refused(err) || ctx.Err() != nil {
			return int(n), err
		}
	}
	docs, err := s.scanLedger(ctx, lq)
	return len(docs), err
}

// findLedger answers lq: its page, in its order.
func (s *Store) findLedger(ctx context.Context, lq *fhir.LedgerQuery) ([]*ledgerDoc, error) {
	f, exact := ledgerFilter(lq, true)
	if exact {
		opts := options.Find().SetSort(ledgerSort(lq.Desc))
		if lq.Offset > 0 {
			opts.SetSkip(int64(lq.Offset))
		}
		if lq.Limit > 0 {
			opts.SetLimit(int64(lq.Limit))
		}
		docs, err := s.findLedgerDocs(ctx, f, opts)
		if err == nil || !refused(err) || ctx.Err() != nil {
			return docs, err
		}
	}
	return s.scanLedger(ctx, lq)
}

func (s *Store) findLedgerDocs(ctx context.Context, f bson.D, opts *options.FindOptionsBuilder) ([]*ledgerDoc, error) {
	cur, err := s.ledger.Find(ctx, f, opts)
	if err != nil {
		return nil, err
	}
	var docs []*ledgerDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	return docs, nil
}

// scanLedger answers lq in Go: it reads the candidates of the filter
// every server runs (type, ids, exact keys, the LowScan interval) in the
// order of lq, keeps those that match and stops at the end of the page.
// It examines at most the scan limit of candidates.
func (s *Store) scanLedger(ctx context.Context, lq *fhir.LedgerQuery) ([]*ledgerDoc, error) {
	f, _ := ledgerFilter(lq, false)
	cur, err := s.ledger.Find(ctx, f, options.Find().SetSort(ledgerSort(lq.Desc)).SetLimit(int64(s.scanLimit)+1))
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var out []*ledgerDoc
	skip, n := max(lq.Offset, 0), 0
	for cur.Next(ctx) {
		if n++; n > s.scanLimit {
			return nil, s.tooBroad()
		}
		var d ledgerDoc
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		if !ledgerMatches(lq, &d) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, &d)
		if lq.Limit > 0 && len(out) == lq.Limit {
			break
		}
	}
	return out, cur.Err()
}

func ledgerSort(desc bool) bson.D {
	dir := 1
	if desc {
		dir = -1
	}
	return bson.D{{Key: "lo", Value: dir}, {Key: "_id", Value: dir}}
}

// ledgerFilter is the filter of lq. With whole it holds every criterion,
// and exact reports so, unless a date bound is not finite (no server
// compares with those the same way); else it holds only what every server
// evaluates (equality, $in, comparisons of numbers): the matches meet it,
// and others may too.
func ledgerFilter(lq *fhir.LedgerQuery, whole bool) (f bson.D, exact bool) {
	f = bson.D{{Key: "type", Value: lq.Type}}
	switch len(lq.IDs) {
	case 0:
	case 1:
		f = append(f, bson.E{Key: "id", Value: lq.IDs[0]})
	default:
		f = append(f, bson.E{Key: "id", Value: bson.D{{Key: "$in", Value: lq.IDs}}})
	}
	exact = whole && !slices.ContainsFunc(lq.Dates, func(alts []fhir.DateBound) bool {
		return slices.ContainsFunc(alts, func(b fhir.DateBound) bool {
			return !finite(b.Low) || !finite(b.High) || !finite(b.Approx)
		})
	})
	var and bson.A
	for _, alts := range lq.Keys {
		if c, plain := keysCond(alts); plain || exact {
			and = append(and, c)
		}
	}
	var lo bson.D
	from, to := fhir.LowScan(lq.Dates)
	if finite(from) {
		lo = append(lo, bson.E{Key: "$gte", Value: from})
	}
	if finite(to) {
		lo = append(lo, bson.E{Key: "$lt", Value: to})
	}
	if len(lo) > 0 {
		and = append(and, bson.D{{Key: "lo", Value: lo}})
	}
	for _, alts := range lq.Dates {
		if !exact {
			break
		}
		if len(alts) == 0 {
			and = append(and, nothing)
			continue
		}
		or := make(bson.A, len(alts))
		for i, b := range alts {
			or[i] = rangeCond("", fhir.Value{Prefix: b.Prefix, Low: b.Low, High: b.High, Approx: b.Approx})
		}
		if len(or) == 1 {
			and = append(and, or[0])
		} else {
			and = append(and, bson.D{{Key: "$or", Value: or}})
		}
	}
	if len(and) > 0 {
		f = append(f, bson.E{Key: "$and", Value: and})
	}
	return f, exact
}

// nothing is a condition no document meets.
var nothing = bson.D{{Key: "type", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}

func finite(x float64) bool { return !math.IsInf(x, 0) && !math.IsNaN(x) }

// keysCond is the condition of one key criterion on k; plain when it is
// equality or $in only.
func keysCond(alts []fhir.LedgerMatch) (c bson.D, plain bool) {
	var keys bson.A
	var or bson.A
	for _, m := range alts {
		if m.Prefix {
			or = append(or, bson.D{{Key: "k", Value: regex("^" + regexp.QuoteMeta(m.Key))}})
		} else {
			keys = append(keys, m.Key)
		}
	}
	var in bson.D
	switch len(keys) {
	case 0:
	case 1:
		in = bson.D{{Key: "k", Value: keys[0]}}
	default:
		in = bson.D{{Key: "k", Value: bson.D{{Key: "$in", Value: keys}}}}
	}
	switch {
	case len(or) == 0 && in == nil:
		return nothing, true
	case len(or) == 0:
		return in, true
	case in != nil:
		or = append(or, in)
	case len(or) == 1:
		return or[0].(bson.D), false
	}
	return bson.D{{Key: "$or", Value: or}}, false
}

// ledgerMatches is the test of ledgerFilter, in Go.
func ledgerMatches(lq *fhir.LedgerQuery, d *ledgerDoc) bool {
	if d.Type != lq.Type || len(lq.IDs) > 0 && !slices.Contains(lq.IDs, d.ID) {
		return false
	}
	for _, alts := range lq.Keys {
		if !slices.ContainsFunc(alts, func(m fhir.LedgerMatch) bool {
			return slices.ContainsFunc(d.Keys, func(k string) bool {
				return k == m.Key || m.Prefix && strings.HasPrefix(k, m.Key)
			})
		}) {
			return false
		}
	}
	for _, alts := range lq.Dates {
		if !slices.ContainsFunc(alts, func(b fhir.DateBound) bool { return b.Matches(d.Lo, d.Hi) }) {
			return false
		}
	}
	return true
}

// compareLedger orders documents as a search does.
func compareLedger(desc bool, a, b *ledgerDoc) int {
	c := cmp.Or(cmp.Compare(a.Lo, b.Lo), bytes.Compare(a.OID[:], b.OID[:]))
	if desc {
		return -c
	}
	return c
}

func ledgerResources(docs []*ledgerDoc) []*fhir.Resource {
	out := make([]*fhir.Resource, len(docs))
	for i, d := range docs {
		out[i] = d.resource()
	}
	return out
}

// searchLedger runs q through the unit: the stored matches, from the
// first, and the unit's own that match (stored after all of them), sorted
// and paged again.
func (t *journalTx) searchLedger(q fhir.Query) ([]*fhir.Resource, error) {
	if len(t.ledgerOrder) == 0 {
		out, err := t.s.searchLedger(t.ctx, q)
		if err != nil {
			return nil, t.s.searchFail(t.ctx, "search", err)
		}
		return out, nil
	}
	lq, err := fhir.CompileLedger(q)
	if err != nil {
		return nil, err
	}
	wide := *lq
	wide.Offset = 0
	if lq.Limit > 0 {
		wide.Limit = max(lq.Offset, 0) + lq.Limit
	}
	docs, err := t.s.findLedger(t.ctx, &wide)
	if err != nil {
		return nil, t.s.searchFail(t.ctx, "search", err)
	}
	for _, d := range t.ledgerOrder {
		if ledgerMatches(lq, d) {
			docs = append(docs, d)
		}
	}
	slices.SortStableFunc(docs, func(a, b *ledgerDoc) int { return compareLedger(lq.Desc, a, b) })
	offset := min(max(lq.Offset, 0), len(docs))
	docs = docs[offset:]
	if lq.Limit > 0 && len(docs) > lq.Limit {
		docs = docs[:lq.Limit]
	}
	return ledgerResources(docs), nil
}

// historyLedger is the type or instance history of a ledger type, newest
// first by LastUpdated, then by _id. Each resource has one version,
// current from its LastUpdated on: At keeps those written before AtEnd.
// The cursor is the LastUpdated and _id of a page's last entry.
func (s *Store) historyLedger(ctx context.Context, q fhir.HistoryQuery, n int) (*fhir.HistoryPage, error) {
	f := bson.D{{Key: "type", Value: q.Type}}
	if q.ID != "" {
		f = append(f, bson.E{Key: "id", Value: q.ID})
	}
	var lu bson.D
	if !q.Since.IsZero() {
		lu = append(lu, bson.E{Key: "$gte", Value: ceilMicros(q.Since)})
	}
	if !q.AtEnd.IsZero() {
		lu = append(lu, bson.E{Key: "$lt", Value: ceilMicros(q.AtEnd)})
	}
	if len(lu) > 0 {
		f = append(f, bson.E{Key: "lu", Value: lu})
	}
	if q.Cursor != "" {
		at, oid, ok := decodeLedgerCursor(q.Cursor)
		if !ok {
			return nil, fhir.Errorf(fhir.CodeInvalid, "invalid history page cursor")
		}
		f = append(f, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "lu", Value: bson.D{{Key: "$lt", Value: at}}}},
			bson.D{{Key: "lu", Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: oid}}}},
		}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "lu", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(n + 1))
	docs, err := s.findLedgerDocs(ctx, f, opts)
	if err != nil {
		return nil, s.fail("history "+q.Type, err)
	}
	page := &fhir.HistoryPage{Entries: make([]*fhir.Resource, 0, min(len(docs), n))}
	for i, d := range docs {
		if i == n {
			last := docs[i-1]
			page.Next = encodeLedgerCursor(last.LastUpdated, last.OID)
			break
		}
		page.Entries = append(page.Entries, d.resource())
	}
	return page, nil
}

// A ledger history cursor is 'L', the LastUpdated as 16 hex digits and
// the ObjectID as 24: shorter than an order key (see decodeCursor), so
// that neither history takes the other's cursor.
const ledgerCursorLen = 1 + 16 + 24

func encodeLedgerCursor(lu int64, oid bson.ObjectID) string {
	var b [ledgerCursorLen]byte
	b[0] = 'L'
	hexUint(b[1:17], uint64(lu)^(1<<63))
	hex.Encode(b[17:], oid[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeLedgerCursor(c string) (int64, bson.ObjectID, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != ledgerCursorLen || b[0] != 'L' {
		return 0, bson.ObjectID{}, false
	}
	u, err := strconv.ParseUint(string(b[1:17]), 16, 64)
	if err != nil {
		return 0, bson.ObjectID{}, false
	}
	oid, err := bson.ObjectIDFromHex(string(b[17:]))
	if err != nil {
		return 0, bson.ObjectID{}, false
	}
	return int64(u ^ (1 << 63)), oid, true
}
