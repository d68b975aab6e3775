package fhirpath

import "testing"

func BenchmarkEvalPatientName(b *testing.B) {
	res := decode(b, patientJSON)
	for _, src := range []string{"Patient.name", "Patient.name.given | Patient.name.family"} {
		e := MustCompile(src)
		b.Run(src, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Eval(res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvalClinicalPatient runs the longest common expression, the
// 32-way union of clinical-patient, on the resource type it ends with
// nearly last.
func BenchmarkEvalClinicalPatient(b *testing.B) {
	e := MustCompile(searchExpression(b, "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient)"))
	res := decode(b, observationJSON)
	b.ReportAllocs()
	for b.Loop() {
		nodes, err := e.Eval(res)
		if err != nil || len(nodes) != 1 {
			b.Fatalf("%d nodes, %v", len(nodes), err)
		}
	}
}

func BenchmarkCompileClinicalPatient(b *testing.B) {
	src := searchExpression(b, "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient)")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}
