package storetest

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// RunLedger runs the behaviours of ledger types (fhir.IsLedger:
// AuditEvent), on stores as Run does. The store must also implement
// fhir.LedgerPurger.
func RunLedger(t *testing.T, newStore func(t *testing.T) fhir.Store) {
	run(t, newStore, ledgerBehaviours)
}

const (
	restType = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	dcm      = "http://dicom.nema.org/resources/ontology/DCM"
	restful  = "http://hl7.org/fhir/restful-interaction"
)

// auditEntry is a ledger resource dated recorded (at second precision
// when whole seconds, else to the millisecond).
func (e *env) auditEntry(id string, recorded time.Time, ix ...fhir.IndexEntry) *fhir.Resource {
	r := e.first("AuditEvent", id)
	lo := float64(recorded.UnixMilli())
	span := 1.0
	if recorded.Nanosecond() == 0 {
		span = 1000
	}
	r.Index = append([]fhir.IndexEntry{{Param: "date", Kind: fhir.TypeDate, Low: lo, High: lo + span}}, ix...)
	return r
}

// ledgerData stores five events:
//
//	e1  10:00:00   patient p1, agent dr-a, rest/read, action R, outcome 0
//	e2  10:00:01   patient p2, agent dr-a, rest/search, action E, outcome 0
//	e3  10:00:02   patient p1, agent dr-b, rest/update, action U, outcome 8
//	e4  10:00:02   patient p1, agent dr-a, DCM 110106 (export), action R, outcome 0
//	e5  10:00:03.5 agents dr-b and patient p9 (who acted), DCM 110114 (login), action E, outcome 4
//
// As the extractor writes them, a patient's reference is an entity's or
// an agent's too: engines may find patients through those.
//
// e3 and e4 share a date; e4 is stored after e3, in a unit of its own.
func ledgerData(e *env) map[string]*fhir.Resource {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	sec := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Second))) }
	rs := map[string]*fhir.Resource{
		"e1": e.auditEntry("e1", sec(0), ref("patient", "Patient/p1"), ref("entity", "Patient/p1"), ref("agent", "Practitioner/dr-a"),
			tok("type", restType, "rest", ""), tok("subtype", restful, "read", ""), tok("action", "http://hl7.org/fhir/audit-event-action", "R", ""),
			tok("outcome", "http://hl7.org/fhir/audit-event-outcome", "0", ""), str("address", "10.0.0.1", "10.0.0.1")),
		"e2": e.auditEntry("e2", sec(1), ref("patient", "Patient/p2"), ref("entity", "Patient/p2"), ref("agent", "Practitioner/dr-a"),
			tok("type", restType, "rest", ""), tok("subtype", restful, "search-type", ""), tok("action", "http://hl7.org/fhir/audit-event-action", "E", ""),
			tok("outcome", "http://hl7.org/fhir/audit-event-outcome", "0", "")),
		"e3": e.auditEntry("e3", sec(2), ref("patient", "Patient/p1"), ref("entity", "Observation/o1"), ref("entity", "Patient/p1"), ref("agent", "Practitioner/dr-b"),
			ref("agent", "Device/app"), tok("type", restType, "rest", ""), tok("subtype", restful, "update", ""),
			tok("action", "http://hl7.org/fhir/audit-event-action", "U", ""), tok("outcome", "http://hl7.org/fhir/audit-event-outcome", "8", "")),
		"e4": e.auditEntry("e4", sec(2), ref("patient", "Patient/p1"), ref("entity", "Patient/p1"), ref("agent", "Practitioner/dr-a"),
			tok("type", dcm, "110106", ""), tok("action", "http://hl7.org/fhir/audit-event-action", "R", ""),
			tok("outcome", "http://hl7.org/fhir/audit-event-outcome", "0", "")),
		"e5": e.auditEntry("e5", sec(3.5), ref("agent", "Practitioner/dr-b"), ref("agent", "Patient/p9"), ref("patient", "Patient/p9"), tok("type", dcm, "110114", ""),
			tok("action", "http://hl7.org/fhir/audit-event-action", "E", ""), tok("outcome", "http://hl7.org/fhir/audit-event-outcome", "4", "")),
	}
	e.put(rs["e1"], rs["e2"], rs["e3"])
	e.put(rs["e4"])
	e.put(rs["e5"])
	return rs
}

func ledgerQuery(cs ...fhir.Clause) fhir.Query { return query("AuditEvent", cs...) }

func refVal(target string) fhir.Value {
	typ, _, _ := cutSlash(target)
	return fhir.Value{System: typ, Code: target}
}

func cutSlash(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func dateVal(prefix string, from, to time.Time) fhir.Value {
	return fhir.Value{Prefix: prefix, Low: float64(from.UnixMilli()), High: float64(to.UnixMilli())}
}

// wantBadLedgerSearch checks that q is refused as a bad request.
func (e *env) wantBadLedgerSearch(q fhir.Query) {
	e.t.Helper()
	_, err := e.s.Search(e.ctx, q)
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.HTTPStatus() != http.StatusBadRequest {
		e.t.Errorf("Search %+v: error %v, want a 400 fhir.Error", q.Clauses, err)
	}
}

var ledgerBehaviours = []behaviour{
	{name: "ledger: a first version is stored and read back", run: func(e *env) {
		rs := ledgerData(e)
		for _, id := range []string{"e1", "e4", "e5"} {
			same(e.t, e.read("AuditEvent", id), rs[id])
			got, err := e.s.VRead(e.ctx, "AuditEvent", id, 1)
			if err != nil {
				e.t.Fatalf("VRead %s: %v", id, err)
			}
			same(e.t, got, rs[id])
		}
		if _, err := e.s.VRead(e.ctx, "AuditEvent", "e1", 2); !errors.Is(err, fhir.ErrNotFound) {
			e.t.Errorf("VRead version 2: %v, want ErrNotFound", err)
		}
		if _, err := e.s.Read(e.ctx, "AuditEvent", "nope"); !errors.Is(err, fhir.ErrNotFound) {
			e.t.Errorf("Read of a missing id: %v, want ErrNotFound", err)
		}
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			got, err := tx.Read("AuditEvent", "e2")
			if err != nil {
				return err
			}
			same(e.t, got, rs["e2"])
			return nil
		})
		if err != nil {
			e.t.Errorf("Read inside a unit: %v", err)
		}
	}},

	{name: "ledger: entries are never changed or deleted through Put", run: func(e *env) {
		rs := ledgerData(e)
		v2 := e.next(rs["e1"])
		deletion := &fhir.Resource{Type: "AuditEvent", ID: "e1", Version: 2, LastUpdated: e.clock.Next(), Method: "DELETE", Deleted: true}
		for _, r := range []*fhir.Resource{v2, deletion} {
			err := e.s.Write(e.ctx, func(tx fhir.Tx) error { return tx.Put(r) })
			var fe *fhir.Error
			if !errors.As(err, &fe) || fe.Code != fhir.CodeNotSupported {
				e.t.Errorf("Put of version %d (deleted %v): %v, want not-supported", r.Version, r.Deleted, err)
			}
		}
		again := e.first("AuditEvent", "e1")
		if err := e.s.Write(e.ctx, func(tx fhir.Tx) error { return tx.Put(again) }); !errors.Is(err, fhir.ErrVersionConflict) {
			e.t.Errorf("a second version 1: %v, want ErrVersionConflict", err)
		}
		same(e.t, e.read("AuditEvent", "e1"), rs["e1"])
	}},

	{name: "ledger: search by keys, in date order", run: func(e *env) {
		ledgerData(e)
		t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
		anySys := func(code string) fhir.Value { return fhir.Value{AnySystem: true, Code: code} }
		e.cases(
			searchCase{name: "all", q: ledgerQuery(), want: ids("AuditEvent", "e1", "e2", "e3", "e4", "e5")},
			searchCase{name: "patient", q: ledgerQuery(clause("patient", fhir.TypeReference, "", refVal("Patient/p1"))),
				want: ids("AuditEvent", "e1", "e3", "e4")},
			searchCase{name: "a patient who acted", q: ledgerQuery(clause("patient", fhir.TypeReference, "", refVal("Patient/p9"))),
				want: ids("AuditEvent", "e5")},
			searchCase{name: "either of two patients", q: ledgerQuery(clause("patient", fhir.TypeReference, "", refVal("Patient/p9"), refVal("Patient/p2"))),
				want: ids("AuditEvent", "e2", "e5")},
			searchCase{name: "entity", q: ledgerQuery(clause("entity", fhir.TypeReference, "", refVal("Observation/o1"))),
				want: ids("AuditEvent", "e3")},
			searchCase{name: "agent, either of two", q: ledgerQuery(clause("agent", fhir.TypeReference, "", refVal("Device/app"), refVal("Practitioner/dr-a"))),
				want: ids("AuditEvent", "e1", "e2", "e3", "e4")},
			searchCase{name: "an entry with both agents asked for comes once", q: ledgerQuery(clause("agent", fhir.TypeReference, "", refVal("Practitioner/dr-b"), refVal("Device/app"))),
				want: ids("AuditEvent", "e3", "e5")},
			searchCase{name: "type with system", q: ledgerQuery(clause("type", fhir.TypeToken, "", sysCode(dcm, "110106"))),
				want: ids("AuditEvent", "e4")},
			searchCase{name: "type, code only", q: ledgerQuery(clause("type", fhir.TypeToken, "", anySys("rest"))),
				want: ids("AuditEvent", "e1", "e2", "e3")},
			searchCase{name: "a code under another system matches nothing", q: ledgerQuery(clause("type", fhir.TypeToken, "", sysCode(dcm, "rest"))),
				want: nil},
			searchCase{name: "subtype", q: ledgerQuery(clause("subtype", fhir.TypeToken, "", anySys("read"), anySys("update"))),
				want: ids("AuditEvent", "e1", "e3")},
			searchCase{name: "patient and action", q: ledgerQuery(clause("patient", fhir.TypeReference, "", refVal("Patient/p1")),
				clause("action", fhir.TypeToken, "", anySys("R"))), want: ids("AuditEvent", "e1", "e4")},
			searchCase{name: "agent, outcome and action", q: ledgerQuery(clause("agent", fhir.TypeReference, "", refVal("Practitioner/dr-b")),
				clause("outcome", fhir.TypeToken, "", anySys("4")), clause("action", fhir.TypeToken, "", anySys("E"))), want: ids("AuditEvent", "e5")},
			searchCase{name: "_id", q: ledgerQuery(clause("_id", fhir.TypeToken, "", val("e5"), val("e2"))), want: ids("AuditEvent", "e2", "e5")},
			searchCase{name: "IDs and patient", q: fhir.Query{Type: "AuditEvent", IDs: []string{"e1", "e2"},
				Clauses: []fhir.Clause{clause("patient", fhir.TypeReference, "", refVal("Patient/p1"))}}, want: ids("AuditEvent", "e1")},
			searchCase{name: "date ge", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("ge", t0.Add(2*time.Second), t0.Add(3*time.Second)))),
				want: ids("AuditEvent", "e3", "e4", "e5")},
			searchCase{name: "date gt", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("gt", t0.Add(2*time.Second), t0.Add(3*time.Second)))),
				want: ids("AuditEvent", "e5")},
			searchCase{name: "date lt", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("lt", t0.Add(1*time.Second), t0.Add(2*time.Second)))),
				want: ids("AuditEvent", "e1")},
			searchCase{name: "date le", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("le", t0.Add(1*time.Second), t0.Add(2*time.Second)))),
				want: ids("AuditEvent", "e1", "e2")},
			searchCase{name: "date eq a second", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("eq", t0.Add(2*time.Second), t0.Add(3*time.Second)))),
				want: ids("AuditEvent", "e3", "e4")},
			searchCase{name: "date eq the day", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("", t0.Truncate(24*time.Hour), t0.Truncate(24*time.Hour).Add(24*time.Hour)))),
				want: ids("AuditEvent", "e1", "e2", "e3", "e4", "e5")},
			searchCase{name: "date ne", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("ne", t0.Add(2*time.Second), t0.Add(3*time.Second)))),
				want: ids("AuditEvent", "e1", "e2", "e5")},
			searchCase{name: "date between, and patient", q: ledgerQuery(
				clause("date", fhir.TypeDate, "", dateVal("ge", t0.Add(1*time.Second), t0.Add(2*time.Second))),
				clause("date", fhir.TypeDate, "", dateVal("lt", t0.Add(3*time.Second), t0.Add(4*time.Second))),
				clause("patient", fhir.TypeReference, "", refVal("Patient/p1"))), want: ids("AuditEvent", "e3", "e4")},
			searchCase{name: "newest first", q: fhir.Query{Type: "AuditEvent", Sort: []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}}},
				want: ids("AuditEvent", "e5", "e4", "e3", "e2", "e1")},
			searchCase{name: "a page of the patient's, newest first", q: fhir.Query{Type: "AuditEvent",
				Clauses: []fhir.Clause{clause("patient", fhir.TypeReference, "", refVal("Patient/p1"))},
				Sort:    []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}}, Offset: 1, Limit: 1},
				want: ids("AuditEvent", "e3")},
			searchCase{name: "a page, oldest first", q: fhir.Query{Type: "AuditEvent", Offset: 2, Limit: 2}, want: ids("AuditEvent", "e3", "e4")},
		)
	}},

	{name: "ledger: what it cannot search is a bad request", run: func(e *env) {
		ledgerData(e)
		e.wantBadLedgerSearch(ledgerQuery(clause("address", fhir.TypeString, "", val("10.0.0.1"))))
		e.wantBadLedgerSearch(ledgerQuery(clause("agent", fhir.TypeReference, "", fhir.Value{AnySystem: true, Code: "dr-a"})))
		e.wantBadLedgerSearch(ledgerQuery(clause("type", fhir.TypeToken, "", fhir.Value{System: dcm})))
		e.wantBadLedgerSearch(ledgerQuery(clause("type", fhir.TypeToken, "not", fhir.Value{AnySystem: true, Code: "rest"})))
		e.wantBadLedgerSearch(ledgerQuery(missing("patient", fhir.TypeReference, true)))
		e.wantBadLedgerSearch(fhir.Query{Type: "AuditEvent", Sort: []fhir.SortKey{{Param: "_id", Type: fhir.TypeToken}}})
	}},

	{name: "ledger: an entry without a date is dated by LastUpdated", run: func(e *env) {
		a := e.first("AuditEvent", "a")
		b := e.first("AuditEvent", "b")
		b.Index = []fhir.IndexEntry{ref("patient", "Patient/p9")}
		e.put(b, a)
		lu := b.LastUpdated
		e.cases(
			searchCase{name: "by LastUpdated", q: ledgerQuery(clause("date", fhir.TypeDate, "", dateVal("eq", lu, lu.Add(time.Millisecond)))),
				want: ids("AuditEvent", "b")},
			searchCase{name: "in order", q: ledgerQuery(), want: ids("AuditEvent", "a", "b")},
		)
	}},

	{name: "ledger: type and instance history, newest first, paged", run: func(e *env) {
		rs := ledgerData(e)
		q := fhir.HistoryQuery{Type: "AuditEvent"}
		got := e.walk(q, 2)
		var keys []string
		for _, r := range got {
			keys = append(keys, r.ID)
		}
		// Newest first by LastUpdated: the order they were made in.
		if want := []string{"e5", "e4", "e3", "e2", "e1"}; !slices.Equal(keys, want) {
			e.t.Errorf("type history = %v, want %v", keys, want)
		}
		e.wantHistory(fhir.HistoryQuery{Type: "AuditEvent", ID: "e2"}, rs["e2"])
		e.wantHistory(fhir.HistoryQuery{Type: "AuditEvent", Since: rs["e4"].LastUpdated}, rs["e5"], rs["e4"])
		e.wantHistory(fhir.HistoryQuery{Type: "AuditEvent", ID: "nope"})
		sys, err := e.s.History(e.ctx, fhir.HistoryQuery{})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range sys.Entries {
			if r.Type == "AuditEvent" {
				e.t.Errorf("system history holds %s", r.Key())
			}
		}
	}},

	{name: "ledger: purge deletes the entries named", run: func(e *env) {
		ledgerData(e)
		p, ok := e.s.(fhir.LedgerPurger)
		if !ok {
			e.t.Fatalf("%T is not a fhir.LedgerPurger", e.s)
		}
		n, err := p.PurgeLedger(e.ctx, "AuditEvent", []string{"e1", "e3", "nope"})
		if err != nil || n != 2 {
			e.t.Fatalf("PurgeLedger = %d, %v; want 2", n, err)
		}
		for _, id := range []string{"e1", "e3"} {
			if _, err := e.s.Read(e.ctx, "AuditEvent", id); !errors.Is(err, fhir.ErrNotFound) {
				e.t.Errorf("Read of purged %s: %v", id, err)
			}
		}
		e.cases(
			searchCase{name: "patient", q: ledgerQuery(clause("patient", fhir.TypeReference, "", refVal("Patient/p1"))), want: ids("AuditEvent", "e4")},
			searchCase{name: "all", q: ledgerQuery(), want: ids("AuditEvent", "e2", "e4", "e5")},
		)
		if _, err := p.PurgeLedger(e.ctx, "Patient", []string{"e2"}); err == nil {
			e.t.Error("PurgeLedger of a type that is no ledger succeeded")
		}
	}},

	{name: "ledger: many entries in one unit", run: func(e *env) {
		var rs []*fhir.Resource
		t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
		for i := range 300 {
			p := "Patient/p" + idN(i%3)
			rs = append(rs, e.auditEntry(idN(i), t0.Add(time.Duration(i)*time.Millisecond), ref("patient", p), ref("entity", p)))
		}
		e.put(rs...)
		got := e.search(fhir.Query{Type: "AuditEvent", Clauses: []fhir.Clause{clause("patient", fhir.TypeReference, "", refVal("Patient/p"+idN(1)))},
			Sort: []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}}, Limit: 3})
		e.wantKeys(got, ids("AuditEvent", idN(298), idN(295), idN(292))...)
	}},
}

func idN(i int) string {
	return "n" + string(rune('a'+i/100)) + string(rune('a'+i/10%10)) + string(rune('a'+i%10))
}
