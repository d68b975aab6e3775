package fhirpath

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"
)

// searchExpressions reads testdata/search-expressions.txt: every distinct
// expression of the R4 SearchParameters, composite components included.
func searchExpressions(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/search-expressions.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exprs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			exprs = append(exprs, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exprs
}

func TestEverySearchParameterExpressionCompiles(t *testing.T) {
	exprs := searchExpressions(t)
	if len(exprs) != 1363 {
		t.Fatalf("read %d expressions, the file says 1363", len(exprs))
	}
	for _, src := range exprs {
		if _, err := Compile(src); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// Each expression runs without error on a resource of every type it names,
// so that extraction never fails on a well-formed resource.
func TestEverySearchParameterExpressionEvaluates(t *testing.T) {
	for _, src := range searchExpressions(t) {
		e := MustCompile(src)
		for _, typ := range typesNamed(src) {
			res := map[string]any{
				"resourceType": typ, "id": "x",
				"subject": map[string]any{"reference": "Patient/1"},
				"status":  "final",
			}
			if _, err := e.Eval(res); err != nil {
				t.Errorf("on %s: %v", typ, err)
			}
		}
	}
}

// typesNamed returns the capitalised first steps of the paths in an
// expression.
func typesNamed(src string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(src, func(r rune) bool { return strings.ContainsRune(" |()", r) }) {
		if name, _, _ := strings.Cut(f, "."); name != "" && name[0] >= 'A' && name[0] <= 'Z' {
			out = append(out, name)
		}
	}
	return out
}

// The search parameters the portal leans on, evaluated as the index
// extractor will evaluate them.
func TestSearchParameters(t *testing.T) {
	clinicalDate := searchExpression(t, "AllergyIntolerance.recordedDate | CarePlan.period")
	clinicalPatient := searchExpression(t, "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient)")
	birthdate := "Patient.birthDate | Person.birthDate | RelatedPerson.birthDate"
	deceased := "Patient.deceased.exists() and Patient.deceased != false"
	runEvalCases(t, []evalCase{
		{"Observation-date: effectiveDateTime", observationJSON, clinicalDate,
			[]string{`dateTime:"2021-03-04T10:00:00Z"`}},
		{"Observation-date: effectivePeriod", `{"resourceType": "Observation",
			"effectivePeriod": {"start": "2021-03-04", "end": "2021-03-05"}}`, clinicalDate,
			[]string{`Period:{"end":"2021-03-05","start":"2021-03-04"}`}},
		{"Observation-date: effectiveTiming", `{"resourceType": "Observation",
			"effectiveTiming": {"event": ["2021-03-04T08:00:00Z"]}}`, clinicalDate,
			[]string{`Timing:{"event":["2021-03-04T08:00:00Z"]}`}},
		{"Observation-date: none", `{"resourceType": "Observation", "status": "final"}`, clinicalDate, []string{}},
		{"Encounter-date: period", encounterJSON, clinicalDate,
			[]string{`{"end":"2021-01-01T09:30:00Z","start":"2021-01-01T08:00:00Z"}`}},
		{"AllergyIntolerance-date", allergyJSON, clinicalDate, []string{`"2020-05-06"`}},
		{"MedicationRequest-authoredon", medicationRequestJSON, searchExpression(t, "MedicationRequest.authoredOn"),
			[]string{`"2021-02-01"`}},
		{"medications-date: Timing events", medicationRequestJSON, "MedicationRequest.dosageInstruction.timing.event",
			[]string{`"2021-02-02T08:00:00Z"`, `"2021-02-02T20:00:00Z"`}},
		{"Patient-birthdate", patientJSON, birthdate, []string{`"1974-12-25"`}},
		{"Person-birthdate", `{"resourceType": "Person", "birthDate": "1980"}`, birthdate, []string{`"1980"`}},
		{"Patient-deceased: deceasedBoolean false", patientJSON, deceased, []string{`boolean:false`}},
		{"Patient-deceased: deceasedBoolean true", `{"resourceType": "Patient", "deceasedBoolean": true}`, deceased,
			[]string{`boolean:true`}},
		{"Patient-deceased: deceasedDateTime", `{"resourceType": "Patient", "deceasedDateTime": "2020-01-01"}`, deceased,
			[]string{`boolean:true`}},
		{"Patient-deceased: absent", `{"resourceType": "Patient"}`, deceased, []string{`boolean:false`}},
		{"clinical-patient on Observation", observationJSON, clinicalPatient, []string{`{"reference":"Patient/example"}`}},
		{"clinical-patient on an absolute subject", medicationRequestJSON, clinicalPatient,
			[]string{`{"display":"Peter","reference":"https://fhir.example.org/r4/Patient/example"}`}},
		{"clinical-patient on an Observation about a Group", `{"resourceType": "Observation",
			"subject": {"reference": "Group/g1"}}`, clinicalPatient, []string{}},
		{"clinical-patient on AllergyIntolerance.patient", allergyJSON, clinicalPatient,
			[]string{`{"reference":"Patient/example"}`}},
		{"clinical-patient on a Patient", patientJSON, clinicalPatient, []string{}},
		{"Observation-value-quantity", observationJSON,
			searchExpression(t, "(Observation.value as Quantity) | (Observation.value as SampledData)"),
			[]string{`Quantity:{"code":"mm[Hg]","system":"http://unitsofmeasure.org","unit":"mmHg","value":120}`}},
		{"Observation-value-string", observationJSON,
			"(Observation.value as string) | (Observation.value as CodeableConcept).text", []string{}},
		{"Patient-email", patientJSON, searchExpression(t, "Patient.telecom.where(system='email')"),
			[]string{`{"system":"email","value":"peter@example.org"}`}},
		{"individual-given", patientJSON, "Patient.name.given | Practitioner.name.given",
			[]string{`"Peter"`, `"James"`, `"Jim"`}},
	})
}

// Composite components are evaluated on each node of the composite's own
// expression, %resource still being the resource.
func TestCompositeComponentsWithEvalAt(t *testing.T) {
	res := decode(t, molecularSequenceJSON)
	variants, err := MustCompile("MolecularSequence.variant").Eval(res)
	if err != nil || len(variants) != 2 {
		t.Fatalf("variants: %q, %v", render(variants), err)
	}
	var got [][]string
	for _, v := range variants {
		var row []string
		for _, src := range []string{"%resource.referenceSeq.chromosome", "start", "end"} {
			nodes, err := MustCompile(src).EvalAt(res, v)
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, render(nodes)...)
		}
		got = append(got, row)
	}
	want := [][]string{
		{`{"coding":[{"code":"1"}]}`, `128273724`, `128273725`},
		{`{"coding":[{"code":"1"}]}`, `5`, `6`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}

	obs := decode(t, `{"resourceType": "Observation", "code": {"text": "t"}, "valueDateTime": "2021-01-01"}`)
	nodes, err := MustCompile("value.as(DateTime) | value.as(Period)").EvalAt(obs, Node{Value: obs, Type: "Observation"})
	if err != nil || !reflect.DeepEqual(render(nodes), []string{`dateTime:"2021-01-01"`}) {
		t.Errorf("Observation-code-value-date component: %q, %v", render(nodes), err)
	}
}
