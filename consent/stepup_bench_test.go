package consent

import (
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

// benchObservation is a 1.5 KB Observation whose narrative a Go client
// escaped (\u003c for <), labelled with code when code is set.
func benchObservation(code string) *fhir.Resource {
	meta := `"meta":{"versionId":"3","lastUpdated":"2026-11-26T10:00:00.000Z"`
	if code != "" {
		meta += `,"security":[{"system":"` + SystemConfidentiality + `","code":"` + code + `"}]`
	}
	meta += `}`
	div := `\u003cdiv xmlns=\"http://www.w3.org/1999/xhtml\"\u003e\u003cp\u003eHaemoglobin 13.2 g/dL, within the reference range ` +
		`(12.0 to 15.5 g/dL). Sample taken before the third cycle of treatment.\u003c/p\u003e\u003c/div\u003e`
	doc := `{"resourceType":"Observation","id":"obs-1",` + meta + `,"text":{"status":"generated","div":"` + div + `"},` +
		`"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}]}],` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin [Mass/volume] in Blood"}],"text":"Haemoglobin"},` +
		`"subject":{"reference":"Patient/pat-1","display":"Ann Mensah"},"effectiveDateTime":"2026-11-20T08:30:00+01:00","issued":"2026-11-20T11:02:00+01:00",` +
		`"performer":[{"reference":"Organization/lab-1","display":"Central Laboratory"}],` +
		`"valueQuantity":{"value":13.2,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},` +
		`"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}],` +
		`"referenceRange":[{"low":{"value":12.0,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},` +
		`"high":{"value":15.5,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},"text":"12.0 to 15.5 g/dL"}],` +
		`"note":[{"text":"` + strings.Repeat("Reviewed with the patient at the infusion clinic. ", 4) + `"}]}`
	return &fhir.Resource{Type: "Observation", ID: "obs-1", JSON: []byte(doc)}
}

// BenchmarkStepUpNeeds: the label check every resource returned to a
// user whose sign-in is not recent passes through.
func BenchmarkStepUpNeeds(b *testing.B) {
	s := &StepUp{Labels: DefaultStepUpLabels}
	for _, c := range []struct {
		name string
		code string
		want bool
	}{{"unlabelled", "", false}, {"labelled", "R", true}} {
		r := benchObservation(c.code)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(r.JSON)))
			b.ReportAllocs()
			for b.Loop() {
				if s.Needs(r) != c.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}
