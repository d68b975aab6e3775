package fhirpath

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzCompile(f *testing.F) {
	for _, src := range searchExpressions(f) {
		f.Add(src)
	}
	for _, src := range []string{"", "(", "'\\u12", "@T10:00", "@2020-01-01T10:00:00.123+02:00", "%`vs`", "a.$this", "-{}", "1.5.x"} {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Compile(%q): error %T, want *SyntaxError", src, err)
			}
			return
		}
		if e.String() != src {
			t.Fatalf("String() = %q, want %q", e.String(), src)
		}
	})
}

func FuzzEval(f *testing.F) {
	resources := []string{patientJSON, observationJSON, encounterJSON, medicationRequestJSON, allergyJSON, bundleJSON, molecularSequenceJSON}
	seeds := append(searchExpressions(f)[:40:40],
		"Patient.name.given | Patient.name.family", "Observation.subject.where(resolve() is Patient)",
		"Patient.extension('http://example.org/fhir/StructureDefinition/nickname').value",
		"Observation.component.value as Quantity", "Patient.name[1].given.first()",
		"Patient.deceased.exists() and Patient.deceased != false", "(1 + 2) * -3 div 0 mod 1 & 'x'",
		"Patient.name.where($index = 1).select(given.count()) > 1", "%resource.id ~ %context.id",
		"Bundle.entry[0].resource.resolve() is Resource", "Observation.value.value / 0.0")
	for i, src := range seeds {
		f.Add(src, resources[i%len(resources)])
	}
	f.Add("value", `{"valueFoo": 1, "valueString": [null, [["x"]]], "value_": {}}`)
	f.Add("a.resolve()", `{"a": [{"reference": "#"}, "#x", {"reference": {}}], "contained": [1, {"id": "x"}]}`)
	f.Fuzz(func(t *testing.T, src, resource string) {
		e, err := Compile(src)
		if err != nil {
			return
		}
		d := json.NewDecoder(bytes.NewReader([]byte(resource)))
		d.UseNumber()
		var res map[string]any
		if d.Decode(&res) != nil {
			return
		}
		nodes, err := e.Eval(res)
		if err != nil {
			return
		}
		for _, n := range nodes {
			switch n.Value.(type) {
			case nil, []any:
				t.Fatalf("%q gave a node holding %T; arrays are flattened and nulls dropped", src, n.Value)
			}
		}
	})
}
