package conformance

import (
	"slices"
	"testing"
)

func TestResourceTypes(t *testing.T) {
	got := ResourceTypes()
	if len(got) != 146 {
		t.Errorf("ResourceTypes() has %d names, want the 146 of R4", len(got))
	}
	if !slices.IsSorted(got) {
		t.Error("ResourceTypes() is not sorted")
	}
	got[0] = "Changed"
	if ResourceTypes()[0] != "Account" {
		t.Error("ResourceTypes() shares its backing array with callers")
	}
}

func TestIsResourceType(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Patient", true},
		{"Observation", true},
		{"Bundle", true},
		{"Parameters", true},
		{"VisionPrescription", true},
		{"Resource", false},       // abstract
		{"DomainResource", false}, // abstract
		{"SubscriptionStatus", false},
		{"patient", false},
		{"", false},
		{"HumanName", false}, // a data type
	} {
		if got := IsResourceType(tc.name); got != tc.want {
			t.Errorf("IsResourceType(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
