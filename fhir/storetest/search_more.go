package storetest

import (
	"errors"

	"github.com/oncofhir/oncofhir/fhir"
)

var searchMoreBehaviours = []behaviour{
	{name: "Clauses with Missing, on every type", run: func(e *env) {
		e.createIx("Observation", "r1", str("name", "x", "X"), tok("code", loinc, "718-7", ""), dateE("date", year(2024)),
			compE("code-value-quantity", tok("", loinc, "718-7", ""), qtyE("", rng{1, 2}, "", "")),
			ref("subject", "Patient/1"), uriE("url", "urn:x"))
		e.createIx("Observation", "r2", tok("code", loinc, "718-7", ""))
		e.createIx("Observation", "r3")
		e.createIx("Observation", "r4", ofType("identifier", v20203, "MR", "1"), refIdent("subject", "urn:mrn", "1"))
		e.createIx("Patient", "p1")
		m := func(param string, typ fhir.ParamType, b bool) fhir.Query {
			return query("Observation", missing(param, typ, b))
		}
		e.cases(
			searchCase{"string missing", m("name", fhir.TypeString, true), ids("Observation", "r2", "r3", "r4")},
			searchCase{"string present", m("name", fhir.TypeString, false), ids("Observation", "r1")},
			searchCase{"token missing", m("code", fhir.TypeToken, true), ids("Observation", "r3", "r4")},
			searchCase{"token present", m("code", fhir.TypeToken, false), ids("Observation", "r1", "r2")},
			searchCase{"date missing", m("date", fhir.TypeDate, true), ids("Observation", "r2", "r3", "r4")},
			searchCase{"date present", m("date", fhir.TypeDate, false), ids("Observation", "r1")},
			searchCase{"composite missing", m("code-value-quantity", fhir.TypeComposite, true), ids("Observation", "r2", "r3", "r4")},
			searchCase{"composite present", m("code-value-quantity", fhir.TypeComposite, false), ids("Observation", "r1")},
			searchCase{"reference: its :identifier entry is not the reference", m("subject", fhir.TypeReference, true),
				ids("Observation", "r2", "r3", "r4")},
			searchCase{"token: its :of-type entry is not the identifier", m("identifier", fhir.TypeToken, false), nil},
			searchCase{"uri present", m("url", fhir.TypeURI, false), ids("Observation", "r1")},
			searchCase{"missing and another clause",
				query("Observation", clause("code", fhir.TypeToken, "", anySys("718-7")), missing("date", fhir.TypeDate, true)),
				ids("Observation", "r2")},
			searchCase{"missing over every type", query("", missing("code", fhir.TypeToken, true)),
				[]string{"Observation/r3", "Observation/r4", "Patient/p1"}},
		)
	}},

	{name: "Clauses AND with Type, IDs and Tokens", run: func(e *env) {
		for _, p := range []struct{ id, mrn, gender string }{{"a", "1", "female"}, {"b", "1", "male"}, {"c", "2", "female"}} {
			r := e.first("Patient", p.id, ident("urn:mrn", p.mrn))
			r.Index = []fhir.IndexEntry{str("name", "smith", "Smith"), tok("gender", "", p.gender, "")}
			e.put(r)
		}
		r := e.first("Observation", "a", ident("urn:mrn", "1"))
		r.Index = []fhir.IndexEntry{str("name", "smith", "Smith"), tok("gender", "", "female", "")}
		e.put(r)
		female := clause("gender", fhir.TypeToken, "", anySys("female"))
		smith := clause("name", fhir.TypeString, "", val("smith"))
		with := func(q fhir.Query, f func(*fhir.Query)) fhir.Query { f(&q); return q }
		e.cases(
			searchCase{"clauses alone", query("Patient", smith, female), ids("Patient", "a", "c")},
			searchCase{"clauses and IDs", with(query("Patient", smith, female), func(q *fhir.Query) { q.IDs = []string{"a", "b"} }),
				ids("Patient", "a")},
			searchCase{"clauses and Tokens", with(query("Patient", female), func(q *fhir.Query) {
				q.Tokens = []fhir.Token{ident("urn:mrn", "2")}
			}), ids("Patient", "c")},
			searchCase{"clauses, IDs and Tokens", with(query("Patient", smith), func(q *fhir.Query) {
				q.IDs = []string{"a", "b", "c"}
				q.Tokens = []fhir.Token{ident("", "1")}
			}), ids("Patient", "a", "b")},
			searchCase{"clauses and Tokens across types", with(query("", female), func(q *fhir.Query) {
				q.Tokens = []fhir.Token{ident("urn:mrn", "1")}
			}), []string{"Observation/a", "Patient/a"}},
		)
	}},

	{name: "Search refuses an unknown modifier or prefix with a fhir.Error", run: func(e *env) {
		e.createIx("Observation", "a", str("name", "x", "X"), dateE("date", year(2024)))
		for _, q := range []fhir.Query{
			query("Observation", clause("name", fhir.TypeString, "unknown", val("x"))),
			query("Observation", clause("date", fhir.TypeDate, "", rv("xx", year(2024)))),
			query("Observation", clause("date", fhir.TypeDate, "exact", rv("", year(2024)))),
		} {
			_, err := e.s.Search(e.ctx, q)
			var fe *fhir.Error
			if !errors.As(err, &fe) {
				e.t.Errorf("Search %+v: %v, want a *fhir.Error", q.Clauses, err)
			}
		}
	}},

	{name: "Clauses match the entries of current versions only", run: func(e *env) {
		a1 := e.createIx("Observation", "a", tok("code", "", "x", ""), str("name", "old", "Old"))
		e.updateIx(a1, tok("code", "", "y", ""), str("name", "new", "New"))
		b1 := e.createIx("Observation", "b", tok("code", "", "x", ""))
		e.remove(b1)
		c1 := e.createIx("Observation", "c", tok("code", "", "x", ""))
		e.updateIx(c1) // no entries any more
		d1 := e.createIx("Observation", "d", tok("code", "", "x", ""))
		d2 := e.remove(d1)
		e.updateIx(d2, tok("code", "", "z", ""))
		code := func(c string) fhir.Query { return query("Observation", clause("code", fhir.TypeToken, "", anySys(c))) }
		e.cases(
			searchCase{"entries of a superseded version", code("x"), nil},
			searchCase{"entries of the current version", code("y"), ids("Observation", "a")},
			searchCase{"a string of a superseded version", query("Observation", clause("name", fhir.TypeString, "", val("old"))), nil},
			searchCase{"a resource whose current version has no entries is missing them", query("Observation", missing("code", fhir.TypeToken, true)),
				ids("Observation", "c")},
			searchCase{"a deleted resource is not missing anything", query("Observation", clause("code", fhir.TypeToken, "not", anySys("y"))),
				ids("Observation", "c", "d")},
			searchCase{"a resource created again after its deletion", code("z"), ids("Observation", "d")},
		)
	}},

	{name: "Clauses inside a unit of work see its own writes", run: func(e *env) {
		e.createIx("Observation", "a", tok("code", "", "x", ""))
		err := e.s.Write(e.ctx, func(tx fhir.Tx) error {
			b := e.first("Observation", "b")
			b.Index = []fhir.IndexEntry{tok("code", "", "x", "")}
			if err := tx.Put(b); err != nil {
				return err
			}
			got, err := tx.Search(query("Observation", clause("code", fhir.TypeToken, "", anySys("x"))))
			if err != nil {
				return err
			}
			e.wantKeys(got, "Observation/a", "Observation/b")
			b2 := e.next(b)
			b2.Index = []fhir.IndexEntry{tok("code", "", "y", "")}
			if err := tx.Put(b2); err != nil {
				return err
			}
			got, err = tx.Search(query("Observation", clause("code", fhir.TypeToken, "", anySys("x"))))
			if err != nil {
				return err
			}
			e.wantKeys(got, "Observation/a")
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}},
}
