package synth

import (
	"encoding/json"
	"testing"

	"github.com/oncofhir/oncofhir/conformance"
)

// TestBundlesConformToR4 checks every generated resource, and each Bundle
// as a whole, with the validator the server applies to every write: the R4
// JSON schema and the StructureDefinitions' minimum cardinalities.
func TestBundlesConformToR4(t *testing.T) {
	v, err := conformance.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range Generate(Options{Seed: 21, Patients: 20, Start: testStart}) {
		if err := v.Validate("Bundle", b); err != nil {
			t.Fatalf("patient %d: the Bundle is not valid R4: %v", i, err)
		}
		var bundle struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		for j, e := range bundle.Entry {
			var head struct{ ResourceType string }
			json.Unmarshal(e.Resource, &head)
			if err := v.Validate(head.ResourceType, e.Resource); err != nil {
				t.Fatalf("patient %d entry %d (%s): %v", i, j, head.ResourceType, err)
			}
		}
	}
}
