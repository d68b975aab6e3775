package consent

import (
	"testing"

	"github.com/oncofhir/oncofhir/conformance"
)

// Every open type is an R4 resource type outside the Patient compartment:
// a misspelt name would silently refuse the type, and a compartment type
// listed here would be read without limit.
func TestOpenTypesAreTypesOutsideTheCompartment(t *testing.T) {
	compartment := conformance.PatientCompartment()
	for typ := range openTypes {
		if !conformance.IsResourceType(typ) {
			t.Errorf("%s is not a resource type", typ)
		}
		if len(compartment[typ]) > 0 || typ == "Patient" {
			t.Errorf("%s is in the Patient compartment", typ)
		}
	}
}
