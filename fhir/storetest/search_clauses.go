package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

// Counter counts the matches of a query, ignoring its Offset and Limit.
// RunSearch needs it of the store: the port will gain it.
type Counter interface {
	Count(ctx context.Context, q fhir.Query) (int, error)
}

// createIx puts version 1 of typ/id with the index entries and returns it.
func (e *env) createIx(typ, id string, ix ...fhir.IndexEntry) *fhir.Resource {
	e.t.Helper()
	r := e.first(typ, id)
	r.Index = ix
	e.put(r)
	return r
}

// updateIx puts the version after prev with the index entries.
func (e *env) updateIx(prev *fhir.Resource, ix ...fhir.IndexEntry) *fhir.Resource {
	e.t.Helper()
	r := e.next(prev)
	r.Index = ix
	e.put(r)
	return r
}

// searchCase is one query and the keys it must return, in order.
type searchCase struct {
	name string
	q    fhir.Query
	want []string
}

// cases runs each case as a subtest, checking Search and Count.
func (e *env) cases(cs ...searchCase) {
	for _, c := range cs {
		e.t.Run(c.name, func(t *testing.T) {
			sub := *e
			sub.t = t
			sub.wantKeys(sub.search(c.q), c.want...)
			sub.wantCount(c.q)
		})
	}
}

// wantCount checks that Count(q) is the number of matches Search finds
// without paging.
func (e *env) wantCount(q fhir.Query) {
	e.t.Helper()
	c, ok := e.s.(Counter)
	if !ok {
		e.t.Fatalf("%T has no Count method", e.s)
	}
	all := q
	all.Offset, all.Limit = 0, 0
	want := len(e.search(all))
	got, err := c.Count(e.ctx, q)
	if err != nil {
		e.t.Fatalf("Count: %v", err)
	}
	if got != want {
		e.t.Errorf("Count = %d, want %d", got, want)
	}
}

// Index entries, as the extractor writes them.

func str(param, folded, written string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeString, Text: folded, Code: written}
}

func tok(param, system, code, text string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeToken, System: system, Code: code, Text: text}
}

// ofType is the extra entry of an Identifier with a type.
func ofType(param, system, code, value string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param + ":of-type", Kind: fhir.TypeToken, System: system, Code: code, Text: value}
}

// ref is a reference entry; a relative "Type/id" has its type as System.
func ref(param, target string) fhir.IndexEntry {
	e := fhir.IndexEntry{Param: param, Kind: fhir.TypeReference, Code: target}
	if typ, _, ok := strings.Cut(target, "/"); ok && !strings.Contains(target, ":") {
		e.System = typ
	}
	return e
}

// refIdent is the entry of a reference's logical identifier.
func refIdent(param, system, value string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param + ":identifier", Kind: fhir.TypeReference, System: system, Text: value}
}

func uriE(param, u string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeURI, Code: u}
}

// Query parts.

func clause(param string, typ fhir.ParamType, mod string, vs ...fhir.Value) fhir.Clause {
	return fhir.Clause{Param: param, Type: typ, Modifier: mod, Values: vs}
}

func missing(param string, typ fhir.ParamType, m bool) fhir.Clause {
	return fhir.Clause{Param: param, Type: typ, Missing: &m}
}

func query(typ string, cs ...fhir.Clause) fhir.Query { return fhir.Query{Type: typ, Clauses: cs} }

// val is a value with only a code: a string, a reference, a uri, a token
// "|code" (no system).
func val(code string) fhir.Value { return fhir.Value{Code: code} }

// anySys is a token "code": any system.
func anySys(code string) fhir.Value { return fhir.Value{AnySystem: true, Code: code} }

// sysCode is a token "system|code" ("system|" with code "").
func sysCode(system, code string) fhir.Value { return fhir.Value{System: system, Code: code} }

func ids(typ string, ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = typ + "/" + id
	}
	return out
}

const (
	loinc  = "http://loinc.org"
	snomed = "http://snomed.info/sct"
	ucum   = "http://unitsofmeasure.org"
	v20203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
)

var clauseBehaviours = []behaviour{
	{name: "Clauses on string parameters", run: func(e *env) {
		e.createIx("Patient", "a", str("name", "smith", "Smith"), str("name", "john", "John"))
		e.createIx("Patient", "b", str("name", "smithers", "Smithers"))
		e.createIx("Patient", "c", str("name", "muller", "Müller"))
		e.createIx("Patient", "d", str("name", "asmith", "ASmith"))
		e.createIx("Patient", "e", str("address", "smith street", "Smith Street"))
		e.createIx("Patient", "f", str("name", "zoë", "Zoë"))
		e.createIx("Practitioner", "a", str("name", "smith", "Smith"))
		name := func(mod string, vs ...string) fhir.Query {
			c := clause("name", fhir.TypeString, mod)
			for _, v := range vs {
				c.Values = append(c.Values, val(v))
			}
			return query("Patient", c)
		}
		e.cases(
			searchCase{"the folded text starts with the value", name("", "smi"), ids("Patient", "a", "b")},
			searchCase{"a whole text is its own prefix", name("", "smith"), ids("Patient", "a", "b")},
			searchCase{"the folded text is matched, not the text as written", name("", "mul"), ids("Patient", "c")},
			searchCase{"a value that is not folded matches nothing folded", name("", "Smi"), nil},
			searchCase{"a prefix with a character outside ASCII", name("", "zo"), ids("Patient", "f")},
			searchCase{"a whole text outside ASCII", name("", "zoë"), ids("Patient", "f")},
			searchCase{"values are alternatives", name("", "smithe", "jo"), ids("Patient", "a", "b")},
			searchCase{"a value matching nothing", name("", "x"), nil},
			searchCase{":exact compares the text as written", name("exact", "Smith"), ids("Patient", "a")},
			searchCase{":exact is not a prefix", name("exact", "Smit"), nil},
			searchCase{":exact is case-sensitive", name("exact", "smith"), nil},
			searchCase{":exact outside ASCII", name("exact", "Müller"), ids("Patient", "c")},
			searchCase{":contains finds the value anywhere in the folded text", name("contains", "mit"), ids("Patient", "a", "b", "d")},
			searchCase{":contains at the end", name("contains", "ller"), ids("Patient", "c")},
			searchCase{":contains outside ASCII", name("contains", "ë"), ids("Patient", "f")},
			searchCase{":contains values are alternatives", name("contains", "ller", "ohn"), ids("Patient", "a", "c")},
			searchCase{"an empty Type searches every type", query("", clause("name", fhir.TypeString, "", val("smith"))),
				[]string{"Patient/a", "Patient/b", "Practitioner/a"}},
		)
	}},

	{name: "Clauses on token parameters", run: func(e *env) {
		e.createIx("Observation", "o1", tok("code", loinc, "718-7", "hemoglobin"), tok("code", snomed, "123", "hb"),
			tok("status", "", "final", ""), tok("flag", "", "true", ""))
		e.createIx("Observation", "o2", tok("code", loinc, "4548-4", "hemoglobin a1c"), tok("status", "", "amended", ""),
			tok("flag", "", "false", ""))
		e.createIx("Observation", "o3", tok("code", "urn:local", "718-7", "local hb"), tok("status", "", "final", ""))
		e.createIx("Observation", "o4", tok("code", "", "718-7", ""))
		e.createIx("Observation", "o5", tok("status", "", "final", ""))
		e.createIx("Condition", "o1", tok("code", loinc, "718-7", "hemoglobin"))
		code := func(mod string, vs ...fhir.Value) fhir.Query {
			return query("Observation", clause("code", fhir.TypeToken, mod, vs...))
		}
		e.cases(
			searchCase{"system|code matches that system only", code("", sysCode(loinc, "718-7")), ids("Observation", "o1")},
			searchCase{"code matches any system", code("", anySys("718-7")), ids("Observation", "o1", "o3", "o4")},
			searchCase{"|code matches entries without a system", code("", sysCode("", "718-7")), ids("Observation", "o4")},
			searchCase{"system| matches every code of the system", code("", sysCode(loinc, "")), ids("Observation", "o1", "o2")},
			searchCase{"values are alternatives", code("", sysCode(loinc, "4548-4"), sysCode(snomed, "123")), ids("Observation", "o1", "o2")},
			searchCase{"the code is not a prefix", code("", anySys("718")), nil},
			searchCase{":text matches the start of the folded display", code("text", val("hemo")), ids("Observation", "o1", "o2")},
			searchCase{":text looks at every coding", code("text", val("hb")), ids("Observation", "o1")},
			searchCase{":text is a prefix of the whole text", code("text", val("local h")), ids("Observation", "o3")},
			searchCase{":not keeps resources without a match, and those without the parameter",
				code("not", sysCode(loinc, "718-7")), ids("Observation", "o2", "o3", "o4", "o5")},
			searchCase{":not with several values excludes a match on any of them",
				code("not", sysCode(loinc, "718-7"), anySys("4548-4")), ids("Observation", "o3", "o4", "o5")},
			searchCase{":not with code only", code("not", anySys("718-7")), ids("Observation", "o2", "o5")},
			searchCase{"a boolean is the code true or false",
				query("Observation", clause("flag", fhir.TypeToken, "", anySys("true"))), ids("Observation", "o1")},
			searchCase{"clauses are all required",
				query("Observation", clause("code", fhir.TypeToken, "", anySys("718-7")), clause("status", fhir.TypeToken, "", anySys("final"))),
				ids("Observation", "o1", "o3")},
			searchCase{"a :not clause with another",
				query("Observation", clause("status", fhir.TypeToken, "", anySys("final")), clause("code", fhir.TypeToken, "not", anySys("123"))),
				ids("Observation", "o3", "o5")},
			searchCase{"an empty Type searches every type", query("", clause("code", fhir.TypeToken, "", sysCode(loinc, "718-7"))),
				[]string{"Condition/o1", "Observation/o1"}},
		)
	}},

	{name: "Clauses on token parameters with :of-type", run: func(e *env) {
		e.createIx("Patient", "a", tok("identifier", "urn:mrn", "123", ""), ofType("identifier", v20203, "MR", "123"))
		e.createIx("Patient", "b", tok("identifier", "urn:mrn", "456", ""), ofType("identifier", v20203, "MR", "456"))
		e.createIx("Patient", "c", tok("identifier", "urn:ssn", "123", ""), ofType("identifier", v20203, "SS", "123"))
		ofT := func(vs ...fhir.Value) fhir.Query {
			return query("Patient", clause("identifier", fhir.TypeToken, "of-type", vs...))
		}
		typed := func(code, value string) fhir.Value { return fhir.Value{System: v20203, Code: code, Text: value} }
		e.cases(
			searchCase{"type and value must both match", ofT(typed("MR", "123")), ids("Patient", "a")},
			searchCase{"another type", ofT(typed("SS", "123")), ids("Patient", "c")},
			searchCase{"a value of another type", ofT(typed("MR", "999")), nil},
			searchCase{"the type's system must match", ofT(fhir.Value{System: "urn:other", Code: "MR", Text: "123"}), nil},
			searchCase{"values are alternatives", ofT(typed("MR", "456"), typed("SS", "123")), ids("Patient", "b", "c")},
			searchCase{"the identifier itself is matched as a token",
				query("Patient", clause("identifier", fhir.TypeToken, "", anySys("123"))), ids("Patient", "a", "c")},
		)
	}},

	{name: "Clauses on reference parameters", run: func(e *env) {
		e.createIx("Observation", "o1", ref("subject", "Patient/1"), refIdent("subject", "urn:mrn", "M1"),
			tok("code", loinc, "718-7", ""))
		e.createIx("Observation", "o2", ref("subject", "Patient/10"), tok("code", loinc, "718-7", ""))
		e.createIx("Observation", "o3", ref("subject", "Group/1"), refIdent("subject", "urn:other", "M1"))
		e.createIx("Observation", "o4", ref("subject", "http://other.org/fhir/Patient/1"))
		e.createIx("Observation", "o5", ref("performer", "Patient/1"), tok("code", loinc, "718-7", ""))
		e.createIx("Observation", "o6", ref("subject", "Patient/1"), tok("code", loinc, "4548-4", ""))
		subject := func(mod string, vs ...fhir.Value) fhir.Query {
			return query("Observation", clause("subject", fhir.TypeReference, mod, vs...))
		}
		e.cases(
			searchCase{"the reference matches exactly", subject("", val("Patient/1")), ids("Observation", "o1", "o6")},
			searchCase{"a bare id expands into one value per target type", subject("", val("Patient/1"), val("Group/1")),
				ids("Observation", "o1", "o3", "o6")},
			searchCase{"a bare id on a parameter of any type matches a local reference of any type", subject("", anySys("1")),
				ids("Observation", "o1", "o3", "o6")},
			searchCase{"a bare id with other values", subject("", anySys("10"), val("Group/1")), ids("Observation", "o2", "o3")},
			searchCase{"an absolute reference matches as written", subject("", val("http://other.org/fhir/Patient/1")),
				ids("Observation", "o4")},
			searchCase{"another parameter does not match", subject("", val("Practitioner/1")), nil},
			searchCase{":identifier matches system and value", subject("identifier", sysCode("urn:mrn", "M1")), ids("Observation", "o1")},
			searchCase{":identifier with the value only matches any system", subject("identifier", anySys("M1")),
				ids("Observation", "o1", "o3")},
			searchCase{":identifier with the system only", subject("identifier", sysCode("urn:other", "")), ids("Observation", "o3")},
			searchCase{":identifier does not look at the reference", subject("identifier", anySys("Patient/1")), nil},
			searchCase{"a reference and a code, as a patient's results are searched",
				query("Observation", clause("subject", fhir.TypeReference, "", val("Patient/1")),
					clause("code", fhir.TypeToken, "", sysCode(loinc, "718-7"))), ids("Observation", "o1")},
		)
	}},

	{name: "Clauses on uri parameters", run: func(e *env) {
		e.createIx("ValueSet", "v1", uriE("url", "http://acme.org/fhir"))
		e.createIx("ValueSet", "v2", uriE("url", "http://acme.org/fhir/ValueSet/1"))
		e.createIx("ValueSet", "v3", uriE("url", "http://acme.org/fhir/ValueSet/12"))
		e.createIx("ValueSet", "v4", uriE("url", "http://acme.org/other"))
		e.createIx("ValueSet", "v5", uriE("url", "urn:oid:1.2.3"))
		url := func(mod string, vs ...string) fhir.Query {
			c := clause("url", fhir.TypeURI, mod)
			for _, v := range vs {
				c.Values = append(c.Values, val(v))
			}
			return query("ValueSet", c)
		}
		e.cases(
			searchCase{"the uri matches exactly", url("", "http://acme.org/fhir/ValueSet/1"), ids("ValueSet", "v2")},
			searchCase{"values are alternatives", url("", "urn:oid:1.2.3", "http://acme.org/other"), ids("ValueSet", "v4", "v5")},
			searchCase{":below matches uris that start with the value", url("below", "http://acme.org/fhir"), ids("ValueSet", "v1", "v2", "v3")},
			searchCase{":below is a plain prefix", url("below", "http://acme.org/fhir/ValueSet/1"), ids("ValueSet", "v2", "v3")},
			searchCase{":above matches uris the value starts with", url("above", "http://acme.org/fhir/ValueSet/1/_history/2"),
				ids("ValueSet", "v1", "v2")},
			searchCase{":above includes the value itself", url("above", "http://acme.org/fhir"), ids("ValueSet", "v1")},
			searchCase{":above with alternatives", url("above", "urn:oid:1.2.3.4", "http://acme.org/otherwise"), ids("ValueSet", "v4", "v5")},
		)
	}},
}
