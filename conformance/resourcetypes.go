package conformance

import "sort"

// ResourceTypes returns the names of the R4 resource types (Account …
// VisionPrescription), sorted. The slice is a fresh copy.
func ResourceTypes() []string {
	out := make([]string, len(resourceTypes))
	copy(out, resourceTypes[:])
	return out
}

// IsResourceType reports whether name is an R4 resource type. Abstract
// types (Resource, DomainResource) are not.
func IsResourceType(name string) bool {
	i := sort.SearchStrings(resourceTypes[:], name)
	return i < len(resourceTypes) && resourceTypes[i] == name
}
