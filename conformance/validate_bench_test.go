package conformance

import (
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

func benchmarkValidate(b *testing.B, typ, file string) {
	v := testValidator(b)
	body := readTestdata(b, file)
	if err := v.Validate(typ, body); err != nil { // warm-up: compiles the schema
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(typ, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidatePatient(b *testing.B) { benchmarkValidate(b, "Patient", "patient.json") }

func BenchmarkValidateObservation(b *testing.B) {
	benchmarkValidate(b, "Observation", "observation.json")
}

func BenchmarkValidateBundle(b *testing.B) {
	benchmarkValidate(b, "Bundle", "bundle-transaction.json")
}

// BenchmarkValidateFirstUse is the cold path: a new Validator loading the
// schema and compiling Patient, as the first write after start-up does.
func BenchmarkValidateFirstUse(b *testing.B) {
	body := readTestdata(b, "patient.json")
	for b.Loop() {
		v, err := NewValidator()
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Validate("Patient", body); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzValidate(f *testing.F) {
	types := []string{"Patient", "Observation", "Bundle", "Parameters", "Questionnaire"}
	for i, file := range []string{"patient.json", "observation.json", "bundle-transaction.json"} {
		f.Add(uint8(i), readTestdata(f, file))
	}
	for _, seed := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`,
		`{"resourceType":"Patient","contained":[{"resourceType":"Bundle","type":"collection","entry":[{"resource":{}}]}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"p","part":[{"valueUsageContext":{}}],"resource":{"resourceType":"Patient"}}]}`,
		`{"resourceType":"Questionnaire","status":"draft","item":[{"item":[{"linkId":"1"}]}]}`,
		`{"resourceType":"Observation","0":{"1":[2]},"component":[null,{}],"extension":[[]]}`,
		`[1,2]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add(uint8(0), []byte(seed))
	}
	v := testValidator(f)
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		errs := v.ValidateAll(types[int(sel)%len(types)], body)
		if len(errs) > MaxIssues {
			t.Errorf("%d issues, more than MaxIssues", len(errs))
		}
		for _, e := range errs {
			if e.Code == fhir.CodeException {
				t.Errorf("defect reported for a client body: %v", e)
			}
		}
	})
}
