package search

import (
	"reflect"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

func TestParseClauses(t *testing.T) {
	day := 24 * 3600 * 1000.0
	tests := []struct {
		name  string
		typ   string
		query string
		want  []fhir.Clause
	}{
		// string
		{"string value is folded", "Patient", "name=Sm%C3%ADth%20%20Jr",
			[]fhir.Clause{{Param: "name", Type: "string", Values: []fhir.Value{{Code: "smith jr"}}}}},
		{"string :exact keeps the value as written", "Patient", "name:exact=Sm%C3%ADth",
			[]fhir.Clause{{Param: "name", Type: "string", Modifier: "exact", Values: []fhir.Value{{Code: "Smíth"}}}}},
		{"string :contains is folded", "Patient", "name:contains=MIT",
			[]fhir.Clause{{Param: "name", Type: "string", Modifier: "contains", Values: []fhir.Value{{Code: "mit"}}}}},
		{"comma is OR", "Patient", "family=smith,jones",
			[]fhir.Clause{{Param: "family", Type: "string", Values: []fhir.Value{{Code: "smith"}, {Code: "jones"}}}}},
		{"escaped comma is part of the value", "Patient", `family=smith\,jones`,
			[]fhir.Clause{{Param: "family", Type: "string", Values: []fhir.Value{{Code: "smith,jones"}}}}},
		{"escaped backslash", "Patient", `family=a\\,b`,
			[]fhir.Clause{{Param: "family", Type: "string", Values: []fhir.Value{{Code: `a\`}, {Code: "b"}}}}},
		{"repeated parameter is AND", "Patient", "family=smith&family=jones",
			[]fhir.Clause{
				{Param: "family", Type: "string", Values: []fhir.Value{{Code: "smith"}}},
				{Param: "family", Type: "string", Values: []fhir.Value{{Code: "jones"}}}}},
		{"a prefix on a string is not a prefix", "Patient", "family=gtx",
			[]fhir.Clause{{Param: "family", Type: "string", Values: []fhir.Value{{Code: "gtx"}}}}},
		{":missing=true", "Patient", "birthdate:missing=true",
			[]fhir.Clause{{Param: "birthdate", Type: "date", Missing: ptr(true)}}},
		{":missing=false", "Patient", "name:missing=false",
			[]fhir.Clause{{Param: "name", Type: "string", Missing: ptr(false)}}},

		// token
		{"token code alone: any system", "Patient", "gender=female",
			[]fhir.Clause{{Param: "gender", Type: "token", Values: []fhir.Value{{AnySystem: true, Code: "female"}}}}},
		{"token system|code", "Observation", "code=http://loinc.org|8480-6",
			[]fhir.Clause{{Param: "code", Type: "token", Values: []fhir.Value{{System: "http://loinc.org", Code: "8480-6"}}}}},
		{"token |code: no system", "Observation", "code=|8480-6",
			[]fhir.Clause{{Param: "code", Type: "token", Values: []fhir.Value{{Code: "8480-6"}}}}},
		{"token system|: any code", "Observation", "code=http://loinc.org|",
			[]fhir.Clause{{Param: "code", Type: "token", Values: []fhir.Value{{System: "http://loinc.org"}}}}},
		{"token escaped bar is part of the code", "Patient", `identifier=a\|b`,
			[]fhir.Clause{{Param: "identifier", Type: "token", Values: []fhir.Value{{AnySystem: true, Code: "a|b"}}}}},
		{"token :not", "Patient", "gender:not=male",
			[]fhir.Clause{{Param: "gender", Type: "token", Modifier: "not", Values: []fhir.Value{{AnySystem: true, Code: "male"}}}}},
		{"token :text is folded and not split", "Observation", "code:text=Blood%20Pr%C3%A9ssure|x",
			[]fhir.Clause{{Param: "code", Type: "token", Modifier: "text", Values: []fhir.Value{{Code: "blood pressure|x"}}}}},
		{"token :of-type", "Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053",
			[]fhir.Clause{{Param: "identifier", Type: "token", Modifier: "of-type",
				Values: []fhir.Value{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "446053"}}}}},
		{"_tag is an ordinary token", "Patient", "_tag=http://example.org/tags|vip",
			[]fhir.Clause{{Param: "_tag", Type: "token", Values: []fhir.Value{{System: "http://example.org/tags", Code: "vip"}}}}},
		{"_profile is a uri", "Patient", "_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient",
			[]fhir.Clause{{Param: "_profile", Type: "uri", Values: []fhir.Value{{Code: "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}}}}},

		// reference
		{"reference Type/id", "Observation", "subject=Patient/123",
			[]fhir.Clause{{Param: "subject", Type: "reference", Values: []fhir.Value{{System: "Patient", Code: "Patient/123"}}}}},
		{"reference bare id: one value per target", "Observation", "subject=123",
			[]fhir.Clause{{Param: "subject", Type: "reference", Values: []fhir.Value{
				{System: "Group", Code: "Group/123"}, {System: "Device", Code: "Device/123"},
				{System: "Patient", Code: "Patient/123"}, {System: "Location", Code: "Location/123"}}}}},
		{"reference :Type modifier", "Observation", "subject:Patient=123",
			[]fhir.Clause{{Param: "subject", Type: "reference", Values: []fhir.Value{{System: "Patient", Code: "Patient/123"}}}}},
		{"reference bare id with no declared target: any type", "List", "item=abc",
			[]fhir.Clause{{Param: "item", Type: "reference", Values: []fhir.Value{{AnySystem: true, Code: "abc"}}}}},
		{"reference to this server's URL becomes Type/id", "Observation", "subject=" + testBase + "/Patient/123",
			[]fhir.Clause{{Param: "subject", Type: "reference", Values: []fhir.Value{{System: "Patient", Code: "Patient/123"}}}}},
		{"reference to another server's URL is kept", "Observation", "subject=https://other.example/fhir/Patient/123",
			[]fhir.Clause{{Param: "subject", Type: "reference", Values: []fhir.Value{{Code: "https://other.example/fhir/Patient/123"}}}}},
		{"reference URN is kept", "Observation", "subject=urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
			[]fhir.Clause{{Param: "subject", Type: "reference", Values: []fhir.Value{{Code: "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}}}}},
		{"reference version is dropped", "Observation", "patient=Patient/123/_history/4",
			[]fhir.Clause{{Param: "patient", Type: "reference", Values: []fhir.Value{{System: "Patient", Code: "Patient/123"}}}}},
		{"reference :identifier is a token", "Observation", "subject:identifier=urn:mrn|12345",
			[]fhir.Clause{{Param: "subject", Type: "reference", Modifier: "identifier",
				Values: []fhir.Value{{System: "urn:mrn", Code: "12345"}}}}},

		// uri
		{"uri", "ValueSet", "url=http://example.org/vs/a",
			[]fhir.Clause{{Param: "url", Type: "uri", Values: []fhir.Value{{Code: "http://example.org/vs/a"}}}}},
		{"uri :below", "ValueSet", "url:below=http://example.org/vs",
			[]fhir.Clause{{Param: "url", Type: "uri", Modifier: "below", Values: []fhir.Value{{Code: "http://example.org/vs"}}}}},
		{"uri :above", "ValueSet", "url:above=http://example.org/vs/a/b",
			[]fhir.Clause{{Param: "url", Type: "uri", Modifier: "above", Values: []fhir.Value{{Code: "http://example.org/vs/a/b"}}}}},

		// date
		{"date of day precision covers the day", "Patient", "birthdate=2024-03-05",
			[]fhir.Clause{{Param: "birthdate", Type: "date", Values: []fhir.Value{
				{Low: ms("2024-03-05T00:00:00Z"), High: ms("2024-03-06T00:00:00Z")}}}}},
		{"date of year precision covers the year", "Patient", "birthdate=ge2024",
			[]fhir.Clause{{Param: "birthdate", Type: "date", Values: []fhir.Value{
				{Prefix: "ge", Low: ms("2024-01-01T00:00:00Z"), High: ms("2025-01-01T00:00:00Z")}}}}},
		{"date of month precision", "Patient", "birthdate=lt2024-02",
			[]fhir.Clause{{Param: "birthdate", Type: "date", Values: []fhir.Value{
				{Prefix: "lt", Low: ms("2024-02-01T00:00:00Z"), High: ms("2024-03-01T00:00:00Z")}}}}},
		{"dateTime with zone", "Observation", "date=2024-03-05T10:00:00%2B02:00",
			[]fhir.Clause{{Param: "date", Type: "date", Values: []fhir.Value{
				{Low: ms("2024-03-05T08:00:00Z"), High: ms("2024-03-05T08:00:01Z")}}}}},
		{"time zone with an unencoded plus", "Observation", "date=2024-03-05T10:00:00+02:00",
			[]fhir.Clause{{Param: "date", Type: "date", Values: []fhir.Value{
				{Low: ms("2024-03-05T08:00:00Z"), High: ms("2024-03-05T08:00:01Z")}}}}},
		{"instant below a millisecond still covers one", "Observation", "date=2024-03-05T10:00:00.0001Z",
			[]fhir.Clause{{Param: "date", Type: "date", Values: []fhir.Value{
				{Low: ms("2024-03-05T10:00:00Z"), High: ms("2024-03-05T10:00:00.001Z")}}}}},
		{"_lastUpdated is an ordinary date", "Patient", "_lastUpdated=gt2024-03-05T10:00:00Z",
			[]fhir.Clause{{Param: "_lastUpdated", Type: "date", Values: []fhir.Value{
				{Prefix: "gt", Low: ms("2024-03-05T10:00:00Z"), High: ms("2024-03-05T10:00:01Z")}}}}},
		{"date range is two clauses", "Observation", "date=ge2024-01-01&date=lt2024-02-01",
			[]fhir.Clause{
				{Param: "date", Type: "date", Values: []fhir.Value{{Prefix: "ge", Low: ms("2024-01-01T00:00:00Z"), High: ms("2024-01-02T00:00:00Z")}}},
				{Param: "date", Type: "date", Values: []fhir.Value{{Prefix: "lt", Low: ms("2024-02-01T00:00:00Z"), High: ms("2024-02-02T00:00:00Z")}}}}},
		{"date ap: a tenth of the distance to now", "Patient", "birthdate=ap2015-01-01",
			[]fhir.Clause{{Param: "birthdate", Type: "date", Values: []fhir.Value{
				{Prefix: "ap", Low: ms("2015-01-01T00:00:00Z"), High: ms("2015-01-02T00:00:00Z"),
					Approx: (ms("2025-01-01T00:00:00Z") - ms("2015-01-01T12:00:00Z")) / 10}}}}},
		{"date ap: at least the value's own precision", "Patient", "birthdate=ap2024-12-31",
			[]fhir.Clause{{Param: "birthdate", Type: "date", Values: []fhir.Value{
				{Prefix: "ap", Low: ms("2024-12-31T00:00:00Z"), High: ms("2025-01-01T00:00:00Z"), Approx: day}}}}},

		// number
		{"number 100 covers [99.5, 100.5)", "RiskAssessment", "probability=100",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Low: 99.5, High: 100.5}}}}},
		{"number 1.5 covers [1.45, 1.55)", "RiskAssessment", "probability=1.5",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Low: 1.45, High: 1.55}}}}},
		{"number 100.00 covers [99.995, 100.005)", "RiskAssessment", "probability=100.00",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Low: 99.995, High: 100.005}}}}},
		{"number 1e2 has one significant digit", "RiskAssessment", "probability=1e2",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Low: 50, High: 150}}}}},
		{"number 1.0e2 has two", "RiskAssessment", "probability=1.0e2",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Low: 95, High: 105}}}}},
		{"negative number", "RiskAssessment", "probability=-1.5",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Low: -1.55, High: -1.45}}}}},
		{"number with prefix", "RiskAssessment", "probability=gt0.8",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Prefix: "gt", Low: 0.75, High: 0.85}}}}},
		{"number ap: a tenth of the value", "RiskAssessment", "probability=ap100",
			[]fhir.Clause{{Param: "probability", Type: "number", Values: []fhir.Value{{Prefix: "ap", Low: 99.5, High: 100.5, Approx: 10}}}}},

		// quantity
		{"quantity value|system|code", "Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg",
			[]fhir.Clause{{Param: "value-quantity", Type: "quantity", Values: []fhir.Value{
				{System: "http://unitsofmeasure.org", Code: "mg", Low: 5.35, High: 5.45}}}}},
		{"quantity value||code", "Observation", "value-quantity=le5.4||mg",
			[]fhir.Clause{{Param: "value-quantity", Type: "quantity", Values: []fhir.Value{
				{Prefix: "le", Code: "mg", Low: 5.35, High: 5.45}}}}},
		{"quantity value alone", "Observation", "value-quantity=5",
			[]fhir.Clause{{Param: "value-quantity", Type: "quantity", Values: []fhir.Value{{Low: 4.5, High: 5.5}}}}},

		// composite
		{"composite token$quantity", "Observation", "code-value-quantity=http://loinc.org|8480-6$gt100",
			[]fhir.Clause{{Param: "code-value-quantity", Type: "composite", Values: []fhir.Value{{Parts: []fhir.Value{
				{System: "http://loinc.org", Code: "8480-6"},
				{Prefix: "gt", Low: 99.5, High: 100.5}}}}}}},
		{"composite alternatives", "Observation", "component-code-value-quantity=8480-6$lt60||mm%5BHg%5D,8462-4$lt90",
			[]fhir.Clause{{Param: "component-code-value-quantity", Type: "composite", Values: []fhir.Value{
				{Parts: []fhir.Value{{AnySystem: true, Code: "8480-6"}, {Prefix: "lt", Code: "mm[Hg]", Low: 59.5, High: 60.5}}},
				{Parts: []fhir.Value{{AnySystem: true, Code: "8462-4"}, {Prefix: "lt", Low: 89.5, High: 90.5}}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.typ, tt.query).Query.Clauses
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s?%s\n got %+v\nwant %+v", tt.typ, tt.query, got, tt.want)
			}
		})
	}
}
