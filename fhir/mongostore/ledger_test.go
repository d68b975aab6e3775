package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

var ledgerT0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// audit builds AuditEvent/id written at t0 + n ms, dated at ms from t0
// over span ms (no date when span is 0), for the patient.
func audit(id string, n int, ms, span float64, patient string) *fhir.Resource {
	lu := ledgerT0.Add(time.Duration(n) * time.Millisecond)
	r := &fhir.Resource{Type: "AuditEvent", ID: id, Version: 1, LastUpdated: lu, Method: "POST",
		JSON: []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":%q}`, id))}
	if span > 0 {
		lo := float64(ledgerT0.UnixMilli()) + ms
		r.Index = append(r.Index, fhir.IndexEntry{Param: "date", Kind: fhir.TypeDate, Low: lo, High: lo + span})
	}
	if patient != "" {
		// As the extractor writes them: a patient is an entity's reference too.
		r.Index = append(r.Index, fhir.IndexEntry{Param: "patient", Kind: fhir.TypeReference, System: "Patient", Code: "Patient/" + patient},
			fhir.IndexEntry{Param: "entity", Kind: fhir.TypeReference, System: "Patient", Code: "Patient/" + patient})
	}
	return r
}

func withToken(r *fhir.Resource, param, system, code string) *fhir.Resource {
	r.Index = append(r.Index, fhir.IndexEntry{Param: param, Kind: fhir.TypeToken, System: system, Code: code})
	return r
}

func TestLedgerLayout(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	r := withToken(audit("a1", 0, 2000, 1000, "p1"), "action", "http://hl7.org/fhir/audit-event-action", "R")
	put(t, s, r)

	raw, err := s.db.Collection("ledger").FindOne(ctx, bson.D{{Key: "id", Value: "a1"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.Lookup("_id").ObjectIDOK(); !ok {
		t.Errorf("_id = %v, want an ObjectID", raw.Lookup("_id"))
	}
	lo := float64(ledgerT0.UnixMilli()) + 2000
	for _, c := range []struct {
		field string
		ok    bool
	}{
		{"type", raw.Lookup("type").StringValue() == "AuditEvent"},
		{"id", raw.Lookup("id").StringValue() == "a1"},
		{"lo", raw.Lookup("lo").Double() == lo},
		{"hi", raw.Lookup("hi").Double() == lo+1000},
		{"lu", raw.Lookup("lu").Int64() == r.LastUpdated.UnixMicro()},
		{"m", raw.Lookup("m").StringValue() == "POST"},
	} {
		if !c.ok {
			t.Errorf("field %s = %v", c.field, raw.Lookup(c.field))
		}
	}
	if _, data, ok := raw.Lookup("json").BinaryOK(); !ok || string(data) != string(r.JSON) {
		t.Errorf("json = %v, want the bytes as binary", raw.Lookup("json"))
	}
	var doc struct {
		K []string `bson:"k"`
	}
	if err := bson.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want, _, _, _ := fhir.LedgerKeys(r.Type, r.Index)
	if !slices.Equal(doc.K, want) {
		t.Errorf("k = %q, want %q", doc.K, want)
	}

	// Nothing of it in the general collections, nor a journal.
	for _, c := range []string{resourcesColl, historyColl, txlogColl} {
		n, err := s.db.Collection(c).CountDocuments(ctx, bson.D{})
		if err != nil || n != 0 {
			t.Errorf("%s holds %d documents (%v), want none", c, n, err)
		}
	}

	names, err := indexNames(ctx, s.ledger)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"type_1_id_1", "k_1_lo_1", "type_1_lo_1__id_1", "type_1_lu_1"} {
		if !names[n] {
			t.Errorf("no index %s on ledger (have %v)", n, names)
		}
	}
}

// TestLedgerFilter checks, on random entries and queries, that the
// server's answer to ledgerFilter, the scan in Go and a plain evaluation
// of every entry agree, and that the server takes the filter.
func TestLedgerFilter(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	actions := []string{"C", "R", "U"}
	var rs []*fhir.Resource
	for i := range 80 {
		span := []float64{0, 1, 1000, 1000}[rng.IntN(4)]
		patient := []string{"", "p1", "p2", "p3"}[rng.IntN(4)]
		r := audit(fmt.Sprintf("e%02d", i), i, float64(rng.IntN(8)*500), span, patient)
		if rng.IntN(3) > 0 {
			sys := []string{"http://hl7.org/fhir/audit-event-action", "urn:other"}[rng.IntN(2)]
			withToken(r, "action", sys, actions[rng.IntN(3)])
		}
		rs = append(rs, r)
	}
	for i := 0; i < len(rs); i += 20 {
		put(t, s, rs[i:i+20]...)
	}
	all, err := s.findLedgerDocs(ctx, bson.D{}, options.Find().SetSort(ledgerSort(false)))
	if err != nil || len(all) != len(rs) {
		t.Fatalf("stored %d entries (%v), want %d", len(all), err, len(rs))
	}

	base := float64(ledgerT0.UnixMilli())
	bound := func() fhir.DateBound {
		prefix := []string{"", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}[rng.IntN(10)]
		lo := base + float64(rng.IntN(9)*500-500)
		return fhir.DateBound{Prefix: prefix, Low: lo, High: lo + []float64{1, 1000, 2000}[rng.IntN(3)], Approx: float64(rng.IntN(3) * 300)}
	}
	match := func() fhir.LedgerMatch {
		if rng.IntN(2) == 0 {
			return fhir.LedgerMatch{Key: "AuditEvent\x1fpatient\x1fPatient/p" + fmt.Sprint(1+rng.IntN(3))}
		}
		m := fhir.LedgerMatch{Key: "AuditEvent\x1faction\x1f" + actions[rng.IntN(3)] + "\x1f", Prefix: true}
		if rng.IntN(2) == 0 {
			m.Key, m.Prefix = m.Key+"http://hl7.org/fhir/audit-event-action", false
		}
		return m
	}
	found := 0
	for i := range 300 {
		lq := &fhir.LedgerQuery{Type: "AuditEvent", Desc: rng.IntN(2) == 0}
		for range rng.IntN(3) {
			alts := make([]fhir.LedgerMatch, 1+rng.IntN(2))
			for j := range alts {
				alts[j] = match()
			}
			lq.Keys = append(lq.Keys, alts)
		}
		for range rng.IntN(3) {
			alts := make([]fhir.DateBound, 1+rng.IntN(2))
			for j := range alts {
				alts[j] = bound()
			}
			lq.Dates = append(lq.Dates, alts)
		}
		if rng.IntN(4) == 0 {
			lq.IDs = []string{"e01", "e02", "e03", "e40", "e41"}
		}
		if rng.IntN(3) == 0 {
			lq.Offset, lq.Limit = rng.IntN(4), 1+rng.IntN(5)
		}

		var want []string
		for _, d := range all {
			if ledgerMatches(lq, d) {
				want = append(want, d.ID)
			}
		}
		if lq.Desc {
			slices.Reverse(want)
		}
		count := len(want)
		if count > 0 {
			found++
		}
		want = want[min(lq.Offset, len(want)):]
		if lq.Limit > 0 && len(want) > lq.Limit {
			want = want[:lq.Limit]
		}

		f, exact := ledgerFilter(lq, true)
		if !exact {
			t.Fatalf("query %d: filter not exact", i)
		}
		opts := options.Find().SetSort(ledgerSort(lq.Desc)).SetSkip(int64(lq.Offset))
		if lq.Limit > 0 {
			opts.SetLimit(int64(lq.Limit))
		}
		server, err := s.findLedgerDocs(ctx, f, opts)
		if err != nil {
			t.Fatalf("query %d: the server refused %v: %v", i, f, err)
		}
		scanned, err := s.scanLedger(ctx, lq)
		if err != nil {
			t.Fatal(err)
		}
		if got := ledgerIDs(server); !slices.Equal(got, want) {
			t.Errorf("query %d %+v: server answered %v, want %v", i, *lq, got, want)
		}
		if got := ledgerIDs(scanned); !slices.Equal(got, want) {
			t.Errorf("query %d %+v: scan answered %v, want %v", i, *lq, got, want)
		}
		n, err := s.ledger.CountDocuments(ctx, f)
		if err != nil || int(n) != count {
			t.Errorf("query %d: count %d (%v), want %d", i, n, err, count)
		}
	}
	if found < 100 {
		t.Errorf("only %d queries of 300 matched anything: the test says little", found)
	}
	t.Logf("%d queries of 300 matched", found)
}

func ledgerIDs(docs []*ledgerDoc) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out
}

func auditQuery(cs ...fhir.Clause) fhir.Query { return fhir.Query{Type: "AuditEvent", Clauses: cs} }

func dateClause(prefix string, lo, hi float64) fhir.Clause {
	return fhir.Clause{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{{Prefix: prefix, Low: lo, High: hi}}}
}

func TestLedgerInfiniteBound(t *testing.T) {
	s, _ := openTest(t, Options{})
	put(t, s, audit("a", 0, 0, 1000, "p1"), audit("b", 1, 5000, 1000, "p1"))
	base := float64(ledgerT0.UnixMilli())
	for _, c := range []struct {
		q    fhir.Query
		want []string
	}{
		{auditQuery(dateClause("lt", base+3000, math.Inf(1))), []string{"AuditEvent/a/1"}},
		{auditQuery(dateClause("gt", math.Inf(-1), base+3000)), []string{"AuditEvent/b/1"}},
		{auditQuery(dateClause("", math.Inf(-1), math.Inf(1))), []string{"AuditEvent/a/1", "AuditEvent/b/1"}},
	} {
		got, err := s.Search(context.Background(), c.q)
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, got, c.want...)
		n, err := s.Count(context.Background(), c.q)
		if err != nil || n != len(c.want) {
			t.Errorf("Count = %d, %v; want %d", n, err, len(c.want))
		}
	}
}

// TestLedgerApart checks that searches without a type, and system
// history, never return ledger resources, and that other types write as
// before.
func TestLedgerApart(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	put(t, s, patient("p1", 1), audit("a", 0, 0, 1000, "p1"))
	got, err := s.Search(ctx, fhir.Query{})
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, got, "Patient/p1/1")
	got, err = s.Search(ctx, fhir.Query{IDs: []string{"a", "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, got, "Patient/p1/1")
	if n, err := s.Count(ctx, fhir.Query{}); err != nil || n != 1 {
		t.Errorf("Count of all = %d, %v; want 1", n, err)
	}
	h, err := s.History(ctx, fhir.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h.Entries, "Patient/p1/1")
	if _, err := s.History(ctx, fhir.HistoryQuery{Type: "AuditEvent", Cursor: "bad"}); err == nil {
		t.Error("a bad cursor was taken")
	}
	if _, err := s.PurgeLedger(ctx, "Patient", []string{"p1"}); err == nil {
		t.Error("PurgeLedger of Patient succeeded")
	}
	sameKeys(t, []*fhir.Resource{mustRead(t, s, "Patient", "p1")}, "Patient/p1/1")
}

func mustRead(t *testing.T, s *Store, typ, id string) *fhir.Resource {
	t.Helper()
	r, err := s.Read(context.Background(), typ, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLedgerHistoryAt: a ledger resource is current from its LastUpdated
// on, so _at keeps those written before its end.
func TestLedgerHistoryAt(t *testing.T) {
	s, _ := openTest(t, Options{})
	put(t, s, audit("a", 0, 0, 1000, ""), audit("b", 10, 0, 1000, ""), audit("c", 20, 0, 1000, ""))
	h, err := s.History(context.Background(), fhir.HistoryQuery{Type: "AuditEvent",
		AtStart: ledgerT0.Add(15 * time.Millisecond), AtEnd: ledgerT0.Add(20 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h.Entries, "AuditEvent/b/1", "AuditEvent/a/1")
}

func TestLedgerJournal(t *testing.T) {
	s, _ := journalled(t)
	ctx := context.Background()

	t.Run("a unit sees its own entries", func(t *testing.T) {
		err := s.Write(ctx, func(tx fhir.Tx) error {
			if err := tx.Put(audit("j1", 0, 1000, 1000, "p1")); err != nil {
				return err
			}
			if err := tx.Put(audit("j2", 1, 0, 1000, "p1")); err != nil {
				return err
			}
			if r, err := tx.Read("AuditEvent", "j1"); err != nil || r.ID != "j1" || len(r.Index) != 0 {
				t.Errorf("Read of a buffered entry = %v, %v", r, err)
			}
			got, err := tx.Search(auditQuery(fhir.Clause{Param: "patient", Type: fhir.TypeReference,
				Values: []fhir.Value{{System: "Patient", Code: "Patient/p1"}}}))
			if err != nil {
				return err
			}
			sameKeys(t, got, "AuditEvent/j2/1", "AuditEvent/j1/1")
			return tx.Put(audit("j1", 2, 0, 1000, ""))
		})
		wantErr(t, err, fhir.ErrVersionConflict)
		if _, err := s.Read(ctx, "AuditEvent", "j1"); !errors.Is(err, fhir.ErrNotFound) {
			t.Errorf("an entry of a failed unit was stored: %v", err)
		}
	})

	t.Run("entries go in after the versions, with no journal", func(t *testing.T) {
		put(t, s, audit("k1", 0, 0, 1000, "p1"), patient("p1", 1), audit("k2", 1, 0, 1000, "p1"))
		got, err := s.Search(ctx, fhir.Query{Type: "AuditEvent", IDs: []string{"k1", "k2"}})
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, got, "AuditEvent/k1/1", "AuditEvent/k2/1")
		if n := journals(t, s); n != 0 {
			t.Errorf("%d journals left", n)
		}
	})

	t.Run("a unit whose versions fail stores no entry", func(t *testing.T) {
		failAt(s, stepCurrent, "Patient/p2", errors.New("boom"))
		defer func() { s.hook = nil }()
		if err := putAll(s, audit("m1", 0, 0, 1000, ""), patient("p2", 1)); err == nil {
			t.Fatal("the unit succeeded")
		}
		if _, err := s.Read(ctx, "AuditEvent", "m1"); !errors.Is(err, fhir.ErrNotFound) {
			t.Errorf("Read of m1: %v, want not found", err)
		}
	})

	t.Run("a duplicate stored meanwhile is a conflict at commit", func(t *testing.T) {
		err := s.Write(ctx, func(tx fhir.Tx) error {
			if err := tx.Put(audit("d1", 0, 0, 1000, "")); err != nil {
				return err
			}
			// Another writer stores d1 first.
			return putAll(s, audit("d1", 5, 0, 1000, ""))
		})
		wantErr(t, err, fhir.ErrVersionConflict)
		r := mustRead(t, s, "AuditEvent", "d1")
		if !r.LastUpdated.Equal(ledgerT0.Add(5 * time.Millisecond)) {
			t.Errorf("d1 is the loser's: %v", r.LastUpdated)
		}
	})
}

// TestLedgerPurgeMany: a purge of more ids than one delete names.
func TestLedgerPurgeMany(t *testing.T) {
	s, _ := openTest(t, Options{})
	ids := make([]string, 2500)
	for i := range ids {
		ids[i] = fmt.Sprintf("x%04d", i)
	}
	put(t, s, audit(ids[0], 0, 0, 1000, ""), audit(ids[1500], 1, 0, 1000, ""), audit(ids[2499], 2, 0, 1000, ""), audit("kept", 3, 0, 1000, ""))
	n, err := s.PurgeLedger(context.Background(), "AuditEvent", ids)
	if err != nil || n != 3 {
		t.Fatalf("PurgeLedger = %d, %v; want 3", n, err)
	}
	got, err := s.Search(context.Background(), auditQuery())
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, got, "AuditEvent/kept/1")
}
