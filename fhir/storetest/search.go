package storetest

import (
	"fmt"
	"slices"

	"github.com/oncofhir/oncofhir/fhir"
)

func ident(system, code string) fhir.Token {
	return fhir.Token{Param: "identifier", System: system, Code: code}
}

var searchBehaviours = []behaviour{
	{name: "Search with no criteria returns the current resources of the type, by id", run: func(e *env) {
		b1 := e.create("Patient", "b")
		a1 := e.create("Patient", "a")
		c1 := e.create("Patient", "c")
		b2 := e.update(b1)
		e.create("Observation", "a")
		got := e.search(fhir.Query{Type: "Patient"})
		e.wantKeys(got, "Patient/a", "Patient/b", "Patient/c")
		if len(got) == 3 {
			same(e.t, got[0], a1)
			same(e.t, got[1], b2)
			same(e.t, got[2], c1)
		}
	}},

	{name: "Search by IDs", run: func(e *env) {
		for _, id := range []string{"a", "b", "c", "d"} {
			e.create("Patient", id)
		}
		e.create("Observation", "b")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", IDs: []string{"d", "b", "zz"}}), "Patient/b", "Patient/d")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", IDs: []string{"zz"}}))
	}},

	{name: "Search by many IDs", run: func(e *env) {
		var vs []*fhir.Resource
		var ids []string
		for i := range 600 {
			vs = append(vs, e.first("Patient", fmt.Sprintf("p%04d", i)))
			if i%2 == 0 {
				ids = append(ids, fmt.Sprintf("p%04d", i))
			}
		}
		e.put(vs...)
		got := e.search(fhir.Query{Type: "Patient", IDs: ids})
		if len(got) != len(ids) {
			e.t.Fatalf("Search by %d ids found %d", len(ids), len(got))
		}
		for i := range got {
			if got[i].ID != ids[i] {
				e.t.Fatalf("result %d = %s, want Patient/%s", i, got[i].Key(), ids[i])
			}
		}
	}},

	{name: "Search by identifier without system matches any system", run: func(e *env) {
		e.create("Patient", "a", ident("urn:mrn", "123"))
		e.create("Patient", "b", ident("urn:ssn", "123"))
		e.create("Patient", "c", ident("", "123"))
		e.create("Patient", "d", ident("urn:mrn", "456"))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("", "123")}}),
			"Patient/a", "Patient/b", "Patient/c")
	}},

	{name: "Search by identifier with system matches that system exactly", run: func(e *env) {
		e.create("Patient", "a", ident("urn:mrn", "123"))
		e.create("Patient", "b", ident("urn:mrn2", "123"))
		e.create("Patient", "c", ident("", "123"))
		e.create("Patient", "d", ident("urn:mrn", "1234"))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:mrn", "123")}}), "Patient/a")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:other", "123")}}))
	}},

	{name: "Search tokens are alternatives", run: func(e *env) {
		e.create("Patient", "a", ident("urn:mrn", "1"))
		e.create("Patient", "b", ident("urn:mrn", "2"), ident("urn:ssn", "9"))
		e.create("Patient", "c", ident("urn:mrn", "3"))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:mrn", "1"), ident("", "9")}}),
			"Patient/a", "Patient/b")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:mrn", "2"), ident("urn:ssn", "9")}}),
			"Patient/b")
	}},

	{name: "Search tokens match the param too", run: func(e *env) {
		e.create("Patient", "a", fhir.Token{Param: "identifier", System: "s", Code: "x"})
		e.create("Patient", "b", fhir.Token{Param: "telecom", System: "s", Code: "x"})
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "telecom", Code: "x"}}}), "Patient/b")
	}},

	{name: "Search ANDs IDs and tokens", run: func(e *env) {
		e.create("Patient", "a", ident("urn:mrn", "1"))
		e.create("Patient", "b", ident("urn:mrn", "1"))
		e.create("Patient", "c", ident("urn:mrn", "2"))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", IDs: []string{"b", "c"}, Tokens: []fhir.Token{ident("", "1")}}),
			"Patient/b")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", IDs: []string{"a"}, Tokens: []fhir.Token{ident("", "2")}}))
	}},

	{name: "Search Limit keeps the first matches by id", run: func(e *env) {
		for _, id := range []string{"e", "c", "a", "d", "b"} {
			e.create("Patient", id, ident("urn:mrn", "same"))
		}
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Limit: 2}), "Patient/a", "Patient/b")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("", "same")}, Limit: 3}),
			"Patient/a", "Patient/b", "Patient/c")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Limit: 10}), "Patient/a", "Patient/b", "Patient/c", "Patient/d", "Patient/e")
	}},

	{name: "Search excludes deleted resources", run: func(e *env) {
		a := e.create("Patient", "a", ident("urn:mrn", "1"))
		e.create("Patient", "b", ident("urn:mrn", "1"))
		e.remove(a)
		e.wantKeys(e.search(fhir.Query{Type: "Patient"}), "Patient/b")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", IDs: []string{"a"}}))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:mrn", "1")}}), "Patient/b")
		e.wantKeys(e.search(fhir.Query{}), "Patient/b")
	}},

	{name: "Search with empty Type covers every type, ordered by type then id", run: func(e *env) {
		e.create("Patient", "b", ident("urn:mrn", "x"))
		e.create("Observation", "z", ident("urn:mrn", "x"))
		e.create("Observation", "a")
		e.create("Patient", "a", ident("urn:other", "x"))
		e.create("Condition", "b")
		e.wantKeys(e.search(fhir.Query{}), "Condition/b", "Observation/a", "Observation/z", "Patient/a", "Patient/b")
		e.wantKeys(e.search(fhir.Query{Tokens: []fhir.Token{ident("", "x")}}), "Observation/z", "Patient/a", "Patient/b")
		e.wantKeys(e.search(fhir.Query{Tokens: []fhir.Token{ident("urn:mrn", "x")}}), "Observation/z", "Patient/b")
		e.wantKeys(e.search(fhir.Query{IDs: []string{"b"}}), "Condition/b", "Patient/b")
		e.wantKeys(e.search(fhir.Query{Limit: 2}), "Condition/b", "Observation/a")
	}},

	{name: "Search ignores the tokens of superseded versions", run: func(e *env) {
		v1 := e.create("Patient", "a", ident("urn:mrn", "old"), ident("urn:mrn", "kept"))
		v2 := e.update(v1, ident("urn:mrn", "new"), ident("urn:mrn", "kept"))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("", "old")}}))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:mrn", "new")}}), "Patient/a")
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:mrn", "kept")}}), "Patient/a")
		v3 := e.update(v2) // no tokens at all
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("", "kept")}}))
		e.update(v3, ident("urn:mrn", "old"))
		e.wantKeys(e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("", "old")}}), "Patient/a")
	}},

	{name: "Search returns the current version with its JSON", run: func(e *env) {
		v1 := e.create("Patient", "a", ident("urn:mrn", "1"))
		v2 := e.update(v1, ident("urn:mrn", "1"))
		got := e.search(fhir.Query{Type: "Patient", Tokens: []fhir.Token{ident("urn:mrn", "1")}})
		if len(got) != 1 {
			e.t.Fatalf("Search = %v, want Patient/a", keys(got))
		}
		same(e.t, got[0], v2)
	}},
}

func (e *env) search(q fhir.Query) []*fhir.Resource {
	e.t.Helper()
	got, err := e.s.Search(e.ctx, q)
	if err != nil {
		e.t.Fatalf("Search %+v: %v", q, err)
	}
	return got
}

func (e *env) wantKeys(got []*fhir.Resource, want ...string) {
	e.t.Helper()
	if !slices.Equal(keys(got), want) {
		e.t.Errorf("Search = %v, want %v", keys(got), want)
	}
}
