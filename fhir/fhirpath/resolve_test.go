package fhirpath

import (
	"fmt"
	"reflect"
	"testing"
)

func TestWhereResolveIsPatient(t *testing.T) {
	e := MustCompile("Observation.subject.where(resolve() is Patient)")
	for _, tc := range []struct {
		name    string
		subject string // JSON
		kept    bool
	}{
		{"relative reference", `{"reference": "Patient/123"}`, true},
		{"relative reference with version", `{"reference": "Patient/123/_history/2"}`, true},
		{"absolute URL", `{"reference": "http://example.org/fhir/Patient/1"}`, true},
		{"absolute URL with a trailing slash", `{"reference": "https://example.org/fhir/Patient/1/"}`, true},
		{"contained Patient", `{"reference": "#pat"}`, true},
		{"contained Group", `{"reference": "#grp"}`, false},
		{"missing contained resource", `{"reference": "#nope"}`, false},
		{"another resource type", `{"reference": "Group/1"}`, false},
		{"urn:uuid", `{"reference": "urn:uuid:6f3b4e7a-3f1d-4c5e-9a3b-2f1d4c5e9a3b"}`, false},
		{"urn:uuid with type Patient", `{"reference": "urn:uuid:6f3b4e7a-3f1d-4c5e-9a3b-2f1d4c5e9a3b", "type": "Patient"}`, true},
		{"logical reference with type Patient", `{"type": "Patient", "identifier": {"value": "12345"}}`, true},
		{"logical reference without type", `{"identifier": {"value": "12345"}}`, false},
		{"display only", `{"display": "Peter"}`, false},
		{"malformed id", `{"reference": "Patient/a b"}`, false},
		{"lower-case type", `{"reference": "patient/1"}`, false},
		{"reference that is not a string", `{"reference": 12}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := decode(t, `{"resourceType": "Observation", "id": "o",
				"contained": [{"resourceType": "Patient", "id": "pat"}, {"resourceType": "Group", "id": "grp"}],
				"subject": `+tc.subject+`}`)
			got, err := e.Eval(res)
			if err != nil {
				t.Fatal(err)
			}
			if kept := len(got) == 1; kept != tc.kept {
				t.Fatalf("got %q, kept=%v want %v", render(got), kept, tc.kept)
			}
			if tc.kept && !reflect.DeepEqual(got[0].Value, res["subject"]) {
				t.Errorf("kept %q, want the subject Reference itself", render(got))
			}
		})
	}
}

func TestResolveYieldsTheTarget(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"relative reference names type and id", observationJSON, "Observation.subject.resolve()",
			[]string{`Patient:{"id":"example","resourceType":"Patient"}`}},
		{"a reference string resolves too", observationJSON, "Observation.subject.reference.resolve().id",
			[]string{`"example"`}},
		{"a contained resource is returned whole", `{"resourceType": "Observation",
			"contained": [{"resourceType": "Patient", "id": "pat", "gender": "female"}],
			"subject": {"reference": "#pat"}}`, "Observation.subject.resolve().gender", []string{`"female"`}},
		{"# is the container", `{"resourceType": "Patient", "id": "p", "link": [{"other": {"reference": "#"}}]}`,
			"Patient.link.other.resolve().id", []string{`"p"`}},
		{"canonical with version", `{"resourceType": "Questionnaire", "derivedFrom": ["http://x.org/Questionnaire/q1|2.0"]}`,
			"Questionnaire.derivedFrom.resolve()", []string{`Questionnaire:{"id":"q1","resourceType":"Questionnaire"}`}},
		{"non-reference values yield nothing", observationJSON, "Observation.status.resolve() | Observation.code.resolve()",
			[]string{}},
	})
}

func TestParseReference(t *testing.T) {
	for ref, want := range map[string][2]string{
		"Patient/1":                        {"Patient", "1"},
		"Patient/1/_history/3":             {"Patient", "1"},
		"http://x/fhir/Observation/a.b-c":  {"Observation", "a.b-c"},
		"http://x/fhir/Patient/1?_format=": {"Patient", "1"},
		"Patient":                          {"", ""},
		"Patient/":                         {"", ""},
		"urn:oid:1.2.3":                    {"", ""},
		"":                                 {"", ""},
		"/1":                               {"", ""},
	} {
		typ, id, _ := parseReference(ref)
		if got := [2]string{typ, id}; got != want {
			t.Errorf("parseReference(%q) = %q, want %q", ref, got, want)
		}
	}
}

// One compiled expression serves many goroutines, as the index extractor
// uses it.
func TestConcurrentEval(t *testing.T) {
	e := MustCompile(searchExpression(t, "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient)"))
	res := decode(t, observationJSON)
	done := make(chan error)
	for range 4 {
		go func() {
			for range 200 {
				got, err := e.Eval(res)
				if err == nil && len(got) != 1 {
					err = fmt.Errorf("got %q, want the subject", render(got))
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
