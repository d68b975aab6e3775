package fhirpath

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// decode reads a resource the way the server does: encoding/json with
// UseNumber.
func decode(t testing.TB, src string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(src))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return m
}

// render shows each node as Type:JSON (Type omitted when unknown), so that a
// test states both what was found and what type it was given.
func render(nodes []Node) []string {
	out := []string{}
	for _, n := range nodes {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(n.Value); err != nil {
			out = append(out, "unencodable")
			continue
		}
		s := strings.TrimSpace(b.String())
		if n.Type != "" {
			s = n.Type + ":" + s
		}
		out = append(out, s)
	}
	return out
}

// searchExpression returns the R4 search expression starting with prefix,
// from testdata.
func searchExpression(t testing.TB, prefix string) string {
	t.Helper()
	for _, src := range searchExpressions(t) {
		if strings.HasPrefix(src, prefix) {
			return src
		}
	}
	t.Fatalf("no search expression starts with %q", prefix)
	return ""
}

const patientJSON = `{
  "resourceType": "Patient", "id": "p1",
  "extension": [
    {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "F"},
    {"url": "http://example.org/fhir/StructureDefinition/nickname", "valueString": "Jo"}
  ],
  "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
  "active": true,
  "name": [
    {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
    {"use": "usual", "given": ["Jim"]},
    {"use": "maiden", "family": "Windsor", "given": ["Peter"]}
  ],
  "telecom": [
    {"system": "phone", "value": "(03) 5555 6473", "use": "work"},
    {"system": "email", "value": "peter@example.org"}
  ],
  "gender": "male",
  "birthDate": "1974-12-25",
  "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
  "deceasedBoolean": false,
  "managingOrganization": {"reference": "Organization/1"}
}`

const observationJSON = `{
  "resourceType": "Observation", "id": "bp", "status": "final",
  "contained": [{"resourceType": "Patient", "id": "pat", "name": [{"family": "Inline"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}], "text": "Blood pressure"},
  "subject": {"reference": "Patient/example"},
  "effectiveDateTime": "2021-03-04T10:00:00Z",
  "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
  "component": [
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
     "valueQuantity": {"value": 120.0, "unit": "mmHg"}},
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
     "valueQuantity": {"value": 80, "unit": "mmHg"}},
    {"code": {"text": "position"}, "valueString": "sitting"}
  ]
}`

const encounterJSON = `{
  "resourceType": "Encounter", "id": "e1", "status": "finished",
  "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
  "subject": {"reference": "Patient/example"},
  "period": {"start": "2021-01-01T08:00:00Z", "end": "2021-01-01T09:30:00Z"}
}`

const medicationRequestJSON = `{
  "resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
  "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049502"}]},
  "subject": {"reference": "https://fhir.example.org/r4/Patient/example", "display": "Peter"},
  "authoredOn": "2021-02-01",
  "dosageInstruction": [
    {"timing": {"event": ["2021-02-02T08:00:00Z", "2021-02-02T20:00:00Z"], "repeat": {"countMax": 3, "periodUnit": "d"}}}
  ]
}`

const allergyJSON = `{
  "resourceType": "AllergyIntolerance", "id": "a1",
  "patient": {"reference": "Patient/example"},
  "recordedDate": "2020-05-06"
}`

const bundleJSON = `{
  "resourceType": "Bundle", "id": "b1", "type": "document",
  "entry": [
    {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Composition", "id": "c1", "status": "final"}},
    {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Patient", "id": "p2"}}
  ]
}`

const molecularSequenceJSON = `{
  "resourceType": "MolecularSequence", "id": "ms", "coordinateSystem": 0,
  "referenceSeq": {"chromosome": {"coding": [{"code": "1"}]}, "referenceSeqId": {"coding": [{"code": "NC_000001.11"}]}},
  "variant": [{"start": 128273724, "end": 128273725}, {"start": 5, "end": 6}]
}`
