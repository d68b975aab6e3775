package conformance

import (
	"fmt"
	"slices"
	"sort"
)

// Interaction is a RESTful interaction on a resource type or instance
// (R4 code system restful-interaction).
type Interaction string

// The interactions a resource type may support.
const (
	Read            Interaction = "read"
	VRead           Interaction = "vread"
	Update          Interaction = "update"
	Patch           Interaction = "patch"
	Delete          Interaction = "delete"
	HistoryInstance Interaction = "history-instance"
	HistoryType     Interaction = "history-type"
	Create          Interaction = "create"
	SearchType      Interaction = "search-type"
)

// AllInteractions are the type and instance interactions, in the order
// the CapabilityStatement lists them.
var AllInteractions = []Interaction{Read, VRead, Update, Patch, Delete, HistoryInstance, HistoryType, Create, SearchType}

// SystemInteraction is a whole-system interaction.
type SystemInteraction string

// The system interactions.
const (
	Transaction   SystemInteraction = "transaction"
	Batch         SystemInteraction = "batch"
	HistorySystem SystemInteraction = "history-system"
	SearchSystem  SystemInteraction = "search-system"
)

// SearchParam is a search parameter a resource type supports.
type SearchParam struct {
	Name          string // the code used in URLs, e.g. "birthdate"
	Definition    string // canonical URL of the SearchParameter, optional
	Type          string // number, date, string, token, reference, composite, quantity, uri or special
	Documentation string // optional
}

// ResourceCapability is what the server supports for one resource type.
type ResourceCapability struct {
	Type         string
	Interactions []Interaction
	// Versioning is no-version, versioned or versioned-update; "" omits it.
	Versioning        string
	ReadHistory       bool
	UpdateCreate      bool // update can create a resource with a client-chosen id
	ConditionalCreate bool
	ConditionalUpdate bool
	// ConditionalDelete is not-supported, single or multiple; "" omits it.
	ConditionalDelete string
	SearchParams      []SearchParam
	SearchInclude     []string
	SearchRevInclude  []string
}

// Supports reports whether the interaction is among c's.
func (c ResourceCapability) Supports(i Interaction) bool {
	return slices.Contains(c.Interactions, i)
}

// FullResource is the capability of a resource type served by the generic
// REST handlers: every interaction, versioned updates (If-Match), history,
// update-as-create, conditional create and update, and conditional delete
// of a single match. Search parameters are added by the caller.
func FullResource(resourceType string) ResourceCapability {
	return ResourceCapability{
		Type:              resourceType,
		Interactions:      slices.Clone(AllInteractions),
		Versioning:        "versioned-update",
		ReadHistory:       true,
		UpdateCreate:      true,
		ConditionalCreate: true,
		ConditionalUpdate: true,
		ConditionalDelete: "single",
	}
}

// Registry records the resource types the server serves and what it
// supports for each. It is filled while the server is wired, before it
// serves, and read afterwards; it is not safe for concurrent writes.
type Registry struct {
	resources map[string]ResourceCapability
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{resources: map[string]ResourceCapability{}}
}

// Register adds a resource type. It refuses a name that is not an R4
// resource type, a type registered twice, and unknown interaction,
// versioning, conditional-delete or search-parameter type codes.
func (r *Registry) Register(c ResourceCapability) error {
	if !IsResourceType(c.Type) {
		return fmt.Errorf("conformance: register %q: not an R4 resource type", c.Type)
	}
	if _, dup := r.resources[c.Type]; dup {
		return fmt.Errorf("conformance: register %s: already registered", c.Type)
	}
	if _, err := restResource(c); err != nil {
		return err
	}
	c.Interactions = slices.Clone(c.Interactions)
	c.SearchParams = slices.Clone(c.SearchParams)
	c.SearchInclude = slices.Clone(c.SearchInclude)
	c.SearchRevInclude = slices.Clone(c.SearchRevInclude)
	r.resources[c.Type] = c
	return nil
}

// Types returns the registered resource types, sorted.
func (r *Registry) Types() []string {
	types := make([]string, 0, len(r.resources))
	for t := range r.resources {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// Lookup returns the capability registered for a resource type.
func (r *Registry) Lookup(resourceType string) (ResourceCapability, bool) {
	c, ok := r.resources[resourceType]
	return c, ok
}

// Supports reports whether the interaction is registered for the type.
func (r *Registry) Supports(resourceType string, i Interaction) bool {
	c, ok := r.resources[resourceType]
	return ok && c.Supports(i)
}
