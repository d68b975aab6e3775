package search

import (
	"math"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

type E = fhir.IndexEntry
type V = fhir.Value

func str(param, asWritten string) E {
	return E{Param: param, Kind: fhir.TypeString, Code: asWritten, Text: Fold(asWritten)}
}

func tok(param, system, code string) E {
	return E{Param: param, Kind: fhir.TypeToken, System: system, Code: code}
}

func rng(param string, kind fhir.ParamType, lo, hi float64) E {
	return E{Param: param, Kind: kind, Low: lo, High: hi}
}

func TestMatchClause(t *testing.T) {
	day := 24 * 3600 * 1000.0
	jan1 := ms("2024-01-01T00:00:00Z")
	// A date entry of day precision: 2024-01-02.
	jan2 := rng("date", fhir.TypeDate, jan1+day, jan1+2*day)
	qty := func(lo, hi float64, system, code string) E {
		return E{Param: "value-quantity", Kind: fhir.TypeQuantity, Low: lo, High: hi, System: system, Code: code}
	}
	ucum := "http://unitsofmeasure.org"
	bp := E{Param: "code-value-quantity", Kind: fhir.TypeComposite, Parts: []E{
		tok("", "http://loinc.org", "8480-6"), {Kind: fhir.TypeQuantity, Low: 119.5, High: 120.5, System: ucum, Code: "mm[Hg]"}}}
	tests := []struct {
		name    string
		entries []E
		clause  fhir.Clause
		want    bool
	}{
		// string
		{"string matches the start of the folded text", []E{str("name", "Smíth")},
			fhir.Clause{Param: "name", Type: "string", Values: []V{{Code: "smi"}}}, true},
		{"string does not match inside the text", []E{str("name", "Goldsmith")},
			fhir.Clause{Param: "name", Type: "string", Values: []V{{Code: "smith"}}}, false},
		{"string matches any of several values", []E{str("name", "Jones")},
			fhir.Clause{Param: "name", Type: "string", Values: []V{{Code: "smith"}, {Code: "jon"}}}, true},
		{"string matches any of several entries", []E{str("name", "Ann"), str("name", "Smith")},
			fhir.Clause{Param: "name", Type: "string", Values: []V{{Code: "smith"}}}, true},
		{"string ignores entries of other parameters", []E{str("family", "Smith")},
			fhir.Clause{Param: "name", Type: "string", Values: []V{{Code: "smith"}}}, false},
		{"string :exact compares the value as written", []E{str("name", "Smíth")},
			fhir.Clause{Param: "name", Type: "string", Modifier: "exact", Values: []V{{Code: "Smíth"}}}, true},
		{"string :exact is case sensitive", []E{str("name", "Smith")},
			fhir.Clause{Param: "name", Type: "string", Modifier: "exact", Values: []V{{Code: "smith"}}}, false},
		{"string :exact is not a prefix match", []E{str("name", "Smithers")},
			fhir.Clause{Param: "name", Type: "string", Modifier: "exact", Values: []V{{Code: "Smith"}}}, false},
		{"string :contains matches inside the text", []E{str("name", "Goldsmith")},
			fhir.Clause{Param: "name", Type: "string", Modifier: "contains", Values: []V{{Code: "smi"}}}, true},

		// token
		{"token code alone matches any system", []E{tok("code", "http://loinc.org", "8480-6")},
			fhir.Clause{Param: "code", Type: "token", Values: []V{{AnySystem: true, Code: "8480-6"}}}, true},
		{"token system|code needs both", []E{tok("code", "http://snomed.info/sct", "8480-6")},
			fhir.Clause{Param: "code", Type: "token", Values: []V{{System: "http://loinc.org", Code: "8480-6"}}}, false},
		{"token system|code matches", []E{tok("code", "http://loinc.org", "8480-6")},
			fhir.Clause{Param: "code", Type: "token", Values: []V{{System: "http://loinc.org", Code: "8480-6"}}}, true},
		{"token |code matches only entries without a system", []E{tok("code", "http://loinc.org", "8480-6")},
			fhir.Clause{Param: "code", Type: "token", Values: []V{{Code: "8480-6"}}}, false},
		{"token |code matches an entry without a system", []E{tok("code", "", "8480-6")},
			fhir.Clause{Param: "code", Type: "token", Values: []V{{Code: "8480-6"}}}, true},
		{"token system| matches any code of the system", []E{tok("code", "http://loinc.org", "8480-6")},
			fhir.Clause{Param: "code", Type: "token", Values: []V{{System: "http://loinc.org"}}}, true},
		{"token code is case sensitive", []E{tok("gender", "", "female")},
			fhir.Clause{Param: "gender", Type: "token", Values: []V{{AnySystem: true, Code: "Female"}}}, false},
		{"token :text matches the start of the folded display", []E{{Param: "code", Kind: "token", Code: "8480-6", Text: Fold("Systolic blood pressure")}},
			fhir.Clause{Param: "code", Type: "token", Modifier: "text", Values: []V{{Code: "systolic"}}}, true},
		{"token :text does not look at the code", []E{tok("code", "", "8480-6")},
			fhir.Clause{Param: "code", Type: "token", Modifier: "text", Values: []V{{Code: "8480"}}}, false},
		{"token :not excludes a resource with the value", []E{tok("gender", "", "male")},
			fhir.Clause{Param: "gender", Type: "token", Modifier: "not", Values: []V{{AnySystem: true, Code: "male"}}}, false},
		{"token :not keeps a resource with another value", []E{tok("gender", "", "female")},
			fhir.Clause{Param: "gender", Type: "token", Modifier: "not", Values: []V{{AnySystem: true, Code: "male"}}}, true},
		{"token :not keeps a resource without the parameter", nil,
			fhir.Clause{Param: "gender", Type: "token", Modifier: "not", Values: []V{{AnySystem: true, Code: "male"}}}, true},
		{"token :not excludes when any entry matches any value", []E{tok("gender", "", "female"), tok("gender", "", "other")},
			fhir.Clause{Param: "gender", Type: "token", Modifier: "not", Values: []V{{AnySystem: true, Code: "male"}, {AnySystem: true, Code: "other"}}}, false},
		{"token :of-type looks at the of-type entries", []E{
			tok("identifier", "urn:mrn", "446053"),
			{Param: "identifier:of-type", Kind: "token", System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "446053"}},
			fhir.Clause{Param: "identifier", Type: "token", Modifier: "of-type",
				Values: []V{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "446053"}}}, true},
		{"token :of-type needs the identifier value too", []E{
			{Param: "identifier:of-type", Kind: "token", System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "446053"}},
			fhir.Clause{Param: "identifier", Type: "token", Modifier: "of-type",
				Values: []V{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "999"}}}, false},
		{"token :of-type ignores plain entries", []E{tok("identifier", "http://terminology.hl7.org/CodeSystem/v2-0203", "MR")},
			fhir.Clause{Param: "identifier", Type: "token", Modifier: "of-type",
				Values: []V{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: ""}}}, false},

		// reference
		{"reference Type/id matches", []E{{Param: "subject", Kind: "reference", System: "Patient", Code: "Patient/123"}},
			fhir.Clause{Param: "subject", Type: "reference", Values: []V{{System: "Patient", Code: "Patient/123"}}}, true},
		{"reference of another type does not match", []E{{Param: "subject", Kind: "reference", System: "Group", Code: "Group/123"}},
			fhir.Clause{Param: "subject", Type: "reference", Values: []V{{System: "Patient", Code: "Patient/123"}}}, false},
		{"reference URL matches as written", []E{{Param: "subject", Kind: "reference", Code: "https://other.example/Patient/1"}},
			fhir.Clause{Param: "subject", Type: "reference", Values: []V{{Code: "https://other.example/Patient/1"}}}, true},
		{"reference id of any type matches a local reference", []E{{Param: "item", Kind: "reference", System: "Condition", Code: "Condition/abc"}},
			fhir.Clause{Param: "item", Type: "reference", Values: []V{{AnySystem: true, Code: "abc"}}}, true},
		{"reference id of any type does not match a URL", []E{{Param: "item", Kind: "reference", Code: "https://other.example/abc"}},
			fhir.Clause{Param: "item", Type: "reference", Values: []V{{AnySystem: true, Code: "abc"}}}, false},
		{"reference :identifier looks at identifier entries", []E{
			{Param: "subject", Kind: "reference", System: "Patient", Code: "Patient/123"},
			{Param: "subject:identifier", Kind: "reference", System: "urn:mrn", Text: "12345"}},
			fhir.Clause{Param: "subject", Type: "reference", Modifier: "identifier", Values: []V{{System: "urn:mrn", Code: "12345"}}}, true},
		{"reference :identifier with any system", []E{{Param: "subject:identifier", Kind: "reference", System: "urn:mrn", Text: "12345"}},
			fhir.Clause{Param: "subject", Type: "reference", Modifier: "identifier", Values: []V{{AnySystem: true, Code: "12345"}}}, true},
		{"reference :identifier of another system", []E{{Param: "subject:identifier", Kind: "reference", System: "urn:mrn", Text: "12345"}},
			fhir.Clause{Param: "subject", Type: "reference", Modifier: "identifier", Values: []V{{System: "urn:other", Code: "12345"}}}, false},
		{"reference :identifier ignores the reference itself", []E{{Param: "subject", Kind: "reference", System: "Patient", Code: "Patient/12345"}},
			fhir.Clause{Param: "subject", Type: "reference", Modifier: "identifier", Values: []V{{AnySystem: true, Code: "Patient/12345"}}}, false},

		// uri
		{"uri matches exactly", []E{{Param: "url", Kind: "uri", Code: "http://example.org/vs/a"}},
			fhir.Clause{Param: "url", Type: "uri", Values: []V{{Code: "http://example.org/vs"}}}, false},
		{"uri :below matches longer URIs", []E{{Param: "url", Kind: "uri", Code: "http://example.org/vs/a"}},
			fhir.Clause{Param: "url", Type: "uri", Modifier: "below", Values: []V{{Code: "http://example.org/vs"}}}, true},
		{"uri :above matches shorter URIs", []E{{Param: "url", Kind: "uri", Code: "http://example.org/vs"}},
			fhir.Clause{Param: "url", Type: "uri", Modifier: "above", Values: []V{{Code: "http://example.org/vs/a"}}}, true},
		{"uri :above does not match longer URIs", []E{{Param: "url", Kind: "uri", Code: "http://example.org/vs/a/b"}},
			fhir.Clause{Param: "url", Type: "uri", Modifier: "above", Values: []V{{Code: "http://example.org/vs/a"}}}, false},

		// ranges: value 2024-01 (the whole month), entry the day 2024-01-02
		{"date eq: the entry lies inside the value", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Low: jan1, High: jan1 + 31*day}}}, true},
		{"date eq: an entry wider than the value does not match", []E{rng("date", "date", jan1, jan1+366*day)},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Low: jan1, High: jan1 + 31*day}}}, false},
		{"date ne: the entry not inside the value", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "ne", Low: jan1, High: jan1 + day}}}, true},
		{"date ne: the entry inside the value", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "ne", Low: jan1 + day, High: jan1 + 2*day}}}, false},
		{"date gt: the entry ends after the value", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "gt", Low: jan1, High: jan1 + day}}}, true},
		{"date gt: the same day is not greater", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "gt", Low: jan1 + day, High: jan1 + 2*day}}}, false},
		{"date lt: the entry starts before the value", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "lt", Low: jan1 + 2*day, High: jan1 + 3*day}}}, true},
		{"date lt: the same day is not less", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "lt", Low: jan1 + day, High: jan1 + 2*day}}}, false},
		{"date ge: the same day", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "ge", Low: jan1 + day, High: jan1 + 2*day}}}, true},
		{"date ge: a later day is not", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "ge", Low: jan1 + 2*day, High: jan1 + 3*day}}}, false},
		{"date le: the same day", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "le", Low: jan1 + day, High: jan1 + 2*day}}}, true},
		{"date le: an earlier day is not", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "le", Low: jan1, High: jan1 + day}}}, false},
		{"date sa: starts after the value ends", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "sa", Low: jan1, High: jan1 + day}}}, true},
		{"date sa: overlapping is not after", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "sa", Low: jan1, High: jan1 + 31*day}}}, false},
		{"date eb: ends before the value starts", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "eb", Low: jan1 + 2*day, High: jan1 + 3*day}}}, true},
		{"date eb: overlapping is not before", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "eb", Low: jan1, High: jan1 + 31*day}}}, false},
		{"date ap: within the widened range", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "ap", Low: jan1 + 3*day, High: jan1 + 4*day, Approx: 1.5 * day}}}, true},
		{"date ap: outside the widened range", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "ap", Low: jan1 + 4*day, High: jan1 + 5*day, Approx: day}}}, false},
		{"date an open period end is after everything", []E{rng("date", "date", jan1, math.Inf(1))},
			fhir.Clause{Param: "date", Type: "date", Values: []V{{Prefix: "gt", Low: jan1 + 3000*day, High: jan1 + 3001*day}}}, true},
		{"number eq within the precision", []E{rng("probability", "number", 99.95, 100.05)},
			fhir.Clause{Param: "probability", Type: "number", Values: []V{{Low: 99.5, High: 100.5}}}, true},
		{"number eq outside the precision", []E{rng("probability", "number", 100.95, 101.05)},
			fhir.Clause{Param: "probability", Type: "number", Values: []V{{Low: 99.5, High: 100.5}}}, false},

		// quantity
		{"quantity without a unit matches any unit", []E{qty(5.35, 5.45, ucum, "mg")},
			fhir.Clause{Param: "value-quantity", Type: "quantity", Values: []V{{Low: 4.5, High: 5.5}}}, true},
		{"quantity with a code needs that code", []E{qty(5.35, 5.45, ucum, "g")},
			fhir.Clause{Param: "value-quantity", Type: "quantity", Values: []V{{Code: "mg", Low: 4.5, High: 5.5}}}, false},
		{"quantity value||code matches any system", []E{qty(5.35, 5.45, ucum, "mg")},
			fhir.Clause{Param: "value-quantity", Type: "quantity", Values: []V{{Code: "mg", Low: 4.5, High: 5.5}}}, true},
		{"quantity with a system needs that system", []E{qty(5.35, 5.45, "urn:other", "mg")},
			fhir.Clause{Param: "value-quantity", Type: "quantity", Values: []V{{System: ucum, Code: "mg", Low: 4.5, High: 5.5}}}, false},
		{"quantity unit text without a code", []E{qty(5.35, 5.45, "", "tablets")},
			fhir.Clause{Param: "value-quantity", Type: "quantity", Values: []V{{Prefix: "gt", Code: "tablets", Low: 0.5, High: 1.5}}}, true},

		// composite
		{"composite matches when every part does", []E{bp},
			fhir.Clause{Param: "code-value-quantity", Type: "composite", Values: []V{{Parts: []V{
				{System: "http://loinc.org", Code: "8480-6"}, {Prefix: "gt", Low: 99.5, High: 100.5}}}}}, true},
		{"composite fails when one part does", []E{bp},
			fhir.Clause{Param: "code-value-quantity", Type: "composite", Values: []V{{Parts: []V{
				{System: "http://loinc.org", Code: "8480-6"}, {Prefix: "lt", Low: 99.5, High: 100.5}}}}}, false},
		{"composite parts come from one entry", []E{
			{Param: "code-value-quantity", Kind: "composite", Parts: []E{tok("", "", "8480-6"), {Kind: "quantity", Low: 59.5, High: 60.5}}},
			{Param: "code-value-quantity", Kind: "composite", Parts: []E{tok("", "", "8462-4"), {Kind: "quantity", Low: 119.5, High: 120.5}}}},
			fhir.Clause{Param: "code-value-quantity", Type: "composite", Values: []V{{Parts: []V{
				{AnySystem: true, Code: "8480-6"}, {Prefix: "gt", Low: 99.5, High: 100.5}}}}}, false},

		// missing
		{":missing=true matches a resource without the parameter", []E{str("family", "Smith")},
			fhir.Clause{Param: "birthdate", Type: "date", Missing: ptr(true)}, true},
		{":missing=true does not match a resource with it", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Missing: ptr(true)}, false},
		{":missing=false matches a resource with it", []E{jan2},
			fhir.Clause{Param: "date", Type: "date", Missing: ptr(false)}, true},
		{":missing=false does not match a resource without it", nil,
			fhir.Clause{Param: "date", Type: "date", Missing: ptr(false)}, false},

		{"no entry of the parameter: no match", nil,
			fhir.Clause{Param: "name", Type: "string", Values: []V{{Code: "a"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.entries, fhir.Query{Clauses: []fhir.Clause{tt.clause}}); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}
