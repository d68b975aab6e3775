package searchparam

import (
	"net/url"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir/search"
)

// TestQueriesFindExtracted reads queries with the search parser over this
// registry and matches them, with the search package's reference rules,
// against the entries extracted here: the two sides agree on the shape of
// every kind.
func TestQueriesFindExtracted(t *testing.T) {
	r := registry(t).WithBaseURL("https://fhir.example.org/r4")
	tests := []struct {
		typ, file, query string
		match            bool
	}{
		{"Patient", "patient.json", "name=dr. anna maria", true},
		{"Patient", "patient.json", "name=MUELLER", false},
		{"Patient", "patient.json", "family=muller", true},
		{"Patient", "patient.json", "family:exact=Müller", true},
		{"Patient", "patient.json", "family:exact=muller", false},
		{"Patient", "patient.json", "address=springfield", true},
		{"Patient", "patient.json", "birthdate=1974-12-25", true},
		{"Patient", "patient.json", "birthdate=1974", true},
		{"Patient", "patient.json", "birthdate=gt1974-12-25", false},
		{"Patient", "patient.json", "identifier=http://hospital.example.org/mrn|MRN-0042", true},
		{"Patient", "patient.json", "identifier=MRN-0042", true},
		{"Patient", "patient.json", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-0042", true},
		{"Patient", "patient.json", "identifier:text=mrn", true},
		{"Patient", "patient.json", "telecom=555-0142", true},
		{"Patient", "patient.json", "email=555-0142", false},
		{"Patient", "patient.json", "gender=female", true},
		{"Patient", "patient.json", "active=true", true},
		{"Patient", "patient.json", "deceased=false", true},
		{"Patient", "patient.json", "language:text=germ", true},
		{"Patient", "patient.json", "organization=Organization/org1", true},
		{"Patient", "patient.json", "organization=org1", true},
		{"Patient", "patient.json", "organization=https://fhir.example.org/r4/Organization/org1", true},
		{"Patient", "patient.json", "link:identifier=http://hospital.example.org/mrn|MRN-0007", true},
		{"Patient", "patient.json", "_tag=http://example.org/tags|synthetic", true},
		{"Patient", "patient.json", "_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient", true},
		{"Patient", "patient.json", "_lastUpdated=2024-03-05", true},
		{"Observation", "observation.json", "code=http://loinc.org|85354-9", true},
		{"Observation", "observation.json", "code:text=blood pressure", true},
		{"Observation", "observation.json", "subject=Patient/p1", true},
		{"Observation", "observation.json", "patient=p1", true},
		{"Observation", "observation.json", "date=2024-03-05", true},
		{"Observation", "observation.json", "date=ge2024-03-05T09:40:00Z", true},
		{"Observation", "observation.json", "value-quantity=13.5|http://unitsofmeasure.org|g/dL", true},
		{"Observation", "observation.json", "value-quantity=13.50", true},
		{"Observation", "observation.json", "value-quantity=gt13.6", false},
		{"Observation", "observation.json", "code-value-quantity=http://loinc.org|85354-9$13.5|http://unitsofmeasure.org|g/dL", true},
		{"Observation", "observation.json", "code-value-quantity=http://loinc.org|85354-9$14", false},
		{"Observation", "observation.json", "component-code-value-quantity=http://loinc.org|8480-6$gt100", true},
		{"Observation", "observation.json", "component-code-value-quantity=http://loinc.org|8480-6$lt100", false},
		{"Observation", "observation.json", "combo-code-value-quantity=http://loinc.org|8462-4$80||mm[Hg]", true},
		{"Observation", "observation.json", "performer:missing=true", true},
		{"Encounter", "encounter.json", "date=ge2030-01-01", true}, // open end
		{"Encounter", "encounter.json", "date=lt2024-03-05", false},
		{"Encounter", "encounter.json", "length=45||min", true},
		{"DocumentReference", "documentreference.json", "relationship=DocumentReference/d0$replaces", true},
		{"DocumentReference", "documentreference.json", "subject:identifier=http://hospital.example.org/mrn|MRN-0042", true},
		{"DocumentReference", "documentreference.json", "location=Binary/b1", true},
		{"Invoice", "misc.json", "totalgross=1250|urn:iso:std:iso:4217|EUR", true},
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.typ+"?"+tt.query, func(t *testing.T) {
			values, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			p, err := search.Parse(tt.typ, values, r, search.Options{Strict: true, Now: now, BaseURL: "https://fhir.example.org/r4"})
			if err != nil {
				t.Fatal(err)
			}
			es := extract(t, r, tt.typ, readFile(t, tt.file))
			if got := search.Match(es, p.Query); got != tt.match {
				t.Errorf("match = %v, want %v; clauses %+v", got, tt.match, p.Query.Clauses)
			}
		})
	}
}
