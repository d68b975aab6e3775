package searchparam

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestFirstSteps(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{"Patient.birthDate", []string{"birthDate"}},
		{"Resource.meta.tag", []string{"meta"}},
		{"(Observation.value as Quantity) | (Observation.value as SampledData)", []string{"value", "value"}},
		{"Account.subject.where(resolve() is Patient)", []string{"subject"}},
		{"ActivityDefinition.relatedArtifact.where(type='composed-of').resource", []string{"relatedArtifact"}},
		{"Condition.onset.as(Age) | Condition.onset.as(Range)", []string{"onset", "onset"}},
		{"Bundle.entry[0].resource", []string{"entry"}},
		{"Patient.telecom.where(system='email')", []string{"telecom"}},
		// Always evaluated:
		{"Patient.deceased.exists() and Patient.deceased != false", nil},
		{"Patient.deceased.exists()", nil},
		{"(Patient.a = Patient.b)", nil},
		{"(Patient.a and Patient.b)", nil},
		{"Observation | Observation.component", nil},
		{"name | alias", nil},
		{"Patient.name.iif(true, 1, 2)", nil},
	}
	for _, tt := range tests {
		if got := firstSteps(tt.expr); !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("firstSteps(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestRelativeSteps(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{"code", []string{"code"}},
		{"value.as(Quantity) | value.as(Range)", []string{"value", "value"}},
		{"value.as(CodeableConcept)", []string{"value"}},
		{"%resource.referenceSeq.chromosome", nil},
		{"exists()", nil},
		{"Observation.code", nil},
	}
	for _, tt := range tests {
		if got := relativeSteps(tt.expr); !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("relativeSteps(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
	m := map[string]any{"code": 1, "valueQuantity": 2}
	if !hasAny(m, []string{"value"}) || !hasAny(m, []string{"code"}) || hasAny(m, []string{"val"}) || hasAny(m, []string{"interpretation"}) || !hasAny(m, nil) {
		t.Error("hasAny")
	}
}

func TestNamesOf(t *testing.T) {
	var res map[string]any
	if err := json.Unmarshal([]byte(`{"resourceType":"Observation","valueQuantity":{},"_status":{},"code":{}}`), &res); err != nil {
		t.Fatal(err)
	}
	names := namesOf(res)
	for _, n := range []string{"value", "valueQuantity", "code", "resourceType"} {
		if _, ok := names[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
	if _, ok := names["status"]; ok {
		t.Error("a primitive extension alone counts as the element")
	}
}

// TestSkippedSelectNothing checks what the skipping relies on: on a
// resource with only resourceType, id and meta, every parameter that
// Extract would skip selects nothing.
func TestSkippedSelectNothing(t *testing.T) {
	r := registry(t)
	for typ, tp := range r.types {
		res := map[string]any{"resourceType": typ, "id": "x", "meta": map[string]any{"versionId": "1"}}
		present := namesOf(res)
		for _, p := range tp.list {
			if present.any(p.needs) {
				continue
			}
			nodes, err := p.expr.Eval(res)
			if err != nil || len(nodes) > 0 {
				t.Errorf("%s.%s (%s): %v, %v", typ, p.def.Code, p.expr, nodes, err)
			}
		}
	}
}
