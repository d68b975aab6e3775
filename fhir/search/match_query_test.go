package search

import (
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

func TestMatchAllClauses(t *testing.T) {
	entries := []E{str("name", "Smith"), tok("gender", "", "female")}
	q := fhir.Query{Clauses: []fhir.Clause{
		{Param: "name", Type: "string", Values: []V{{Code: "smith"}}},
		{Param: "gender", Type: "token", Values: []V{{AnySystem: true, Code: "male"}}},
	}}
	if Match(entries, q) {
		t.Error("clauses are AND: a failing clause must fail the query")
	}
	q.Clauses[1].Values = append(q.Clauses[1].Values, V{AnySystem: true, Code: "female"})
	if !Match(entries, q) {
		t.Error("values are OR: one matching value is enough")
	}
	if !Match(nil, fhir.Query{}) {
		t.Error("a query without clauses matches everything")
	}
}

func TestMatchResource(t *testing.T) {
	r := &fhir.Resource{Type: "Patient", ID: "a",
		Tokens: []fhir.Token{{Param: "identifier", System: "urn:mrn", Code: "1"}},
		Index:  []E{str("name", "Smith")}}
	tests := []struct {
		name string
		q    fhir.Query
		want bool
	}{
		{"type and id match", fhir.Query{Type: "Patient", IDs: []string{"b", "a"}}, true},
		{"another type", fhir.Query{Type: "Observation"}, false},
		{"another id", fhir.Query{IDs: []string{"b"}}, false},
		{"token without a system", fhir.Query{Tokens: []fhir.Token{{Param: "identifier", Code: "1"}}}, true},
		{"token of another system", fhir.Query{Tokens: []fhir.Token{{Param: "identifier", System: "urn:x", Code: "1"}}}, false},
		{"clauses over the index", fhir.Query{Clauses: []fhir.Clause{{Param: "name", Type: "string", Values: []V{{Code: "jones"}}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchResource(r, tt.q); got != tt.want {
				t.Errorf("MatchResource = %v, want %v", got, tt.want)
			}
		})
	}
}

// Parse and Match agree: what a client writes finds what extraction stores.
func TestParseThenMatch(t *testing.T) {
	ucum := "http://unitsofmeasure.org"
	patient := []E{
		str("name", "José Smíth"), str("family", "Smíth"),
		rng("birthdate", "date", ms("1970-03-05T00:00:00Z"), ms("1970-03-06T00:00:00Z")),
		tok("gender", "http://hl7.org/fhir/administrative-gender", "female"),
		tok("identifier", "urn:mrn", "446053"),
		{Param: "identifier:of-type", Kind: "token", System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: "446053"},
		{Param: "organization", Kind: "reference", System: "Organization", Code: "Organization/acme"},
		rng("_lastUpdated", "date", ms("2024-06-01T10:00:00.123Z"), ms("2024-06-01T10:00:00.124Z")),
		tok("_tag", "http://example.org/tags", "vip"),
	}
	observation := []E{
		{Param: "subject", Kind: "reference", System: "Patient", Code: "Patient/p1"},
		{Param: "subject:identifier", Kind: "reference", System: "urn:mrn", Text: "446053"},
		{Param: "code", Kind: "token", System: "http://loinc.org", Code: "8480-6", Text: Fold("Systolic blood pressure")},
		{Param: "value-quantity", Kind: "quantity", Low: 119.5, High: 120.5, System: ucum, Code: "mm[Hg]"},
		{Param: "code-value-quantity", Kind: "composite", Parts: []E{
			tok("", "http://loinc.org", "8480-6"), {Kind: "quantity", Low: 119.5, High: 120.5, System: ucum, Code: "mm[Hg]"}}},
		rng("date", "date", ms("2024-06-01T08:30:00Z"), ms("2024-06-01T08:30:01Z")),
	}
	tests := []struct {
		name    string
		typ     string
		query   string
		entries []E
		want    bool
	}{
		{"name in another case and without accents", "Patient", "name=JOSE", patient, true},
		{"family prefix", "Patient", "family=smi", patient, true},
		{"family exact as written", "Patient", "family:exact=Sm%C3%ADth", patient, true},
		{"family exact without the accent", "Patient", "family:exact=Smith", patient, false},
		{"birthdate by year", "Patient", "birthdate=1970", patient, true},
		{"birthdate by day", "Patient", "birthdate=1970-03-05", patient, true},
		{"birthdate another day", "Patient", "birthdate=1970-03-06", patient, false},
		{"birthdate before a date", "Patient", "birthdate=lt1971", patient, true},
		{"birthdate range", "Patient", "birthdate=ge1970-01-01&birthdate=lt1970-04-01", patient, true},
		{"birthdate approximately", "Patient", "birthdate=ap1972", patient, true},
		{"birthdate not approximately", "Patient", "birthdate=ap2020", patient, false},
		{"gender code alone", "Patient", "gender=female", patient, true},
		{"gender with its system", "Patient", "gender=http://hl7.org/fhir/administrative-gender|female", patient, true},
		{"gender :not", "Patient", "gender:not=female", patient, false},
		{"identifier :of-type", "Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053", patient, true},
		{"organization by id", "Patient", "organization=acme", patient, true},
		{"organization by this server's URL", "Patient", "organization=" + testBase + "/Organization/acme", patient, true},
		{"_lastUpdated after a second", "Patient", "_lastUpdated=gt2024-06-01T10:00:00Z", patient, false},
		{"_lastUpdated in the second", "Patient", "_lastUpdated=2024-06-01T10:00:00Z", patient, true},
		{"_lastUpdated on the day", "Patient", "_lastUpdated=ge2024-06-01", patient, true},
		{"_tag", "Patient", "_tag=http://example.org/tags|vip", patient, true},
		{"_tag :missing", "Patient", "_tag:missing=true", patient, false},
		{"subject by id", "Observation", "subject=p1", observation, true},
		{"subject :Patient", "Observation", "subject:Patient=p1", observation, true},
		{"subject :Group", "Observation", "subject:Group=p1", observation, false},
		{"subject :identifier", "Observation", "subject:identifier=urn:mrn|446053", observation, true},
		{"code :text", "Observation", "code:text=systolic%20BLOOD", observation, true},
		{"value above", "Observation", "value-quantity=gt100|http://unitsofmeasure.org|mm%5BHg%5D", observation, true},
		{"value in another unit", "Observation", "value-quantity=gt100||kPa", observation, false},
		{"value equal", "Observation", "value-quantity=120", observation, true},
		{"value approximately", "Observation", "value-quantity=ap115", observation, true},
		{"composite code and value", "Observation", "code-value-quantity=http://loinc.org|8480-6$gt100", observation, true},
		{"composite other code", "Observation", "code-value-quantity=http://loinc.org|8462-4$gt100", observation, false},
		{"date of the day", "Observation", "date=2024-06-01", observation, true},
		{"date in the minute", "Observation", "date=2024-06-01T08:30", observation, true},
		{"date ends before", "Observation", "date=eb2024-06-02", observation, true},
		{"date starts after", "Observation", "date=sa2024-06-02", observation, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.typ, tt.query)
			if got := Match(tt.entries, p.Query); got != tt.want {
				t.Errorf("%s?%s: Match = %v, want %v (clauses %+v)", tt.typ, tt.query, got, tt.want, p.Query.Clauses)
			}
		})
	}
}
