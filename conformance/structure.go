package conformance

// structure is one entry of the generated cardinality table: a resource, a
// complex data type, or a backbone element keyed by its path
// ("Observation.component").
type structure struct {
	required []requirement
	// children maps a JSON member name to the key of its structure, for
	// the members that lead to required elements. "Resource" means a
	// nested resource, typed by its own resourceType.
	children map[string]string
}

// requirement is an element with a minimum cardinality of at least one.
type requirement struct {
	name   string
	min    int
	choice []string // for a choice element (name[x]): the type suffixes, e.g. "Quantity"
}
