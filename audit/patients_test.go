package audit

import (
	"slices"
	"testing"
)

func TestPatients(t *testing.T) {
	const base = "https://example.org/fhir"
	tests := []struct {
		name     string
		typ, id  string
		json     string
		patients []string
	}{
		{"a Patient is its own patient", "Patient", "p1",
			`{"resourceType":"Patient","id":"p1"}`, []string{"p1"}},
		{"a subject reference", "Observation", "o1",
			`{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"}}`, []string{"p1"}},
		{"nested references, in order, without repeats", "Observation", "o1",
			`{"resourceType":"Observation","subject":{"reference":"Patient/p2"},"performer":[{"reference":"Practitioner/d1"},{"reference":"Patient/p3"}],"focus":[{"reference":"Patient/p2"}]}`,
			[]string{"p2", "p3"}},
		{"white space around the colon", "Observation", "o1",
			"{\n  \"subject\" : {\n    \"reference\" :\t\"Patient/p1\"\n  }\n}", []string{"p1"}},
		{"escaped slash", "Observation", "o1",
			`{"subject":{"reference":"Patient\/p1"}}`, []string{"p1"}},
		{"unicode escape", "Observation", "o1",
			`{"subject":{"reference":"Patient\u002fp1"}}`, []string{"p1"}},
		{"a versioned reference", "Observation", "o1",
			`{"subject":{"reference":"Patient/p1/_history/3"}}`, []string{"p1"}},
		{"a contained resource's reference counts", "MedicationRequest", "m1",
			`{"contained":[{"resourceType":"Provenance","id":"pv","target":[{"reference":"Patient/p4"}]}],"subject":{"reference":"#pv"}}`,
			[]string{"p4"}},
		{"a contained Patient is not a patient of this server", "Observation", "o1",
			`{"contained":[{"resourceType":"Patient","id":"cp"}],"subject":{"reference":"#cp"}}`, nil},
		{"absolute URL under the base", "Observation", "o1",
			`{"subject":{"reference":"https://example.org/fhir/Patient/p5"}}`, []string{"p5"}},
		{"absolute URL under the base, versioned", "Observation", "o1",
			`{"subject":{"reference":"https://example.org/fhir/Patient/p5/_history/1"}}`, []string{"p5"}},
		{"another server's URL is ignored", "Observation", "o1",
			`{"subject":{"reference":"https://other.example/fhir/Patient/p6"}}`, nil},
		{"a longer base sharing the prefix is another server", "Observation", "o1",
			`{"subject":{"reference":"https://example.org/fhir2/Patient/p6"}}`, nil},
		{"identifier-only references name no patient", "Observation", "o1",
			`{"subject":{"type":"Patient","identifier":{"system":"urn:mrn","value":"123"}}}`, nil},
		{"other types are not patients", "Observation", "o1",
			`{"subject":{"reference":"Group/g1"},"encounter":{"reference":"Encounter/e1"}}`, nil},
		{"a type that starts with Patient is not Patient", "Observation", "o1",
			`{"subject":{"reference":"PatientX/p1"}}`, nil},
		{"an invalid id is ignored", "Observation", "o1",
			`{"subject":{"reference":"Patient/a b"},"focus":[{"reference":"Patient/.."}]}`, nil},
		{"a reference key inside a string value is not a key", "Observation", "o1",
			`{"note":[{"text":"see \"reference\":\"Patient/p7\""}]}`, nil},
		{"a key ending in reference is not reference", "Observation", "o1",
			`{"x\"reference":"Patient/p7"}`, nil},
		{"a non-string reference is skipped", "Observation", "o1",
			`{"subject":{"reference":null},"focus":[{"reference":"Patient/p8"}]}`, []string{"p8"}},
		{"a Patient linking another patient concerns both", "Patient", "p1",
			`{"resourceType":"Patient","id":"p1","link":[{"other":{"reference":"Patient/p9"},"type":"seealso"}]}`,
			[]string{"p1", "p9"}},
		{"a deletion has no JSON", "Observation", "o1", ``, nil},
		{"a deleted Patient is still its own patient", "Patient", "p1", ``, []string{"p1"}},
		{"truncated JSON ends the scan", "Observation", "o1",
			`{"subject":{"reference":"Patient/p1`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Patients(tt.typ, tt.id, []byte(tt.json), base)
			if !slices.Equal(got, tt.patients) {
				t.Errorf("Patients = %q, want %q", got, tt.patients)
			}
		})
	}
}

func TestPatientsWithoutBase(t *testing.T) {
	got := Patients("Observation", "o1", []byte(`{"subject":{"reference":"https://example.org/fhir/Patient/p1"},"focus":[{"reference":"Patient/p2"}]}`), "")
	if !slices.Equal(got, []string{"p2"}) {
		t.Errorf("Patients = %q, want only the relative reference", got)
	}
}

func TestPatientsBaseWithTrailingSlash(t *testing.T) {
	got := Patients("Observation", "o1", []byte(`{"subject":{"reference":"https://example.org/fhir/Patient/p1"}}`), "https://example.org/fhir/")
	if !slices.Equal(got, []string{"p1"}) {
		t.Errorf("Patients = %q", got)
	}
}

// A typical returned resource: an Observation with a handful of
// references, about 1 KB.
var benchObservation = []byte(`{"resourceType":"Observation","id":"obs-1","meta":{"versionId":"1","lastUpdated":"2024-05-01T10:00:00.000Z"},` +
	`"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}]}],` +
	`"code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin [Mass/volume] in Blood"}],"text":"Hemoglobin"},` +
	`"subject":{"reference":"Patient/pat-1","display":"A patient"},"encounter":{"reference":"Encounter/enc-1"},` +
	`"effectiveDateTime":"2024-05-01T09:30:00Z","issued":"2024-05-01T10:00:00.000Z","performer":[{"reference":"Practitioner/prac-1"},{"reference":"Organization/org-1"}],` +
	`"valueQuantity":{"value":13.2,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},` +
	`"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}],` +
	`"referenceRange":[{"low":{"value":12,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},"high":{"value":16,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"}}]}`)

func BenchmarkPatients(b *testing.B) {
	b.SetBytes(int64(len(benchObservation)))
	b.ReportAllocs()
	for b.Loop() {
		if p := Patients("Observation", "obs-1", benchObservation, "https://example.org/fhir"); len(p) != 1 {
			b.Fatal(p)
		}
	}
}
