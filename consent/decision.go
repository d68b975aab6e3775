package consent

import (
	"github.com/oncofhir/oncofhir/fhir"
)

// Interaction is what a request does, named by the CapabilityStatement's
// interaction codes. An operation is asked as the interactions it performs
// ($everything reads each type it returns; an _include reads what it
// includes; a compartment search is a search of its type).
type Interaction string

const (
	Create          Interaction = "create"
	Read            Interaction = "read"
	VRead           Interaction = "vread"
	HistoryInstance Interaction = "history-instance"
	Update          Interaction = "update"
	Patch           Interaction = "patch"
	Delete          Interaction = "delete"
	SearchType      Interaction = "search-type"
	SearchSystem    Interaction = "search-system"
	HistoryType     Interaction = "history-type"
	HistorySystem   Interaction = "history-system"
)

// letter is the SMART scope letter an interaction needs: c create; r read,
// vread and instance history; u update and patch; d delete; s type and
// system search and history. 0 for an interaction the policy does not know.
func (i Interaction) letter() byte {
	switch i {
	case Create:
		return 'c'
	case Read, VRead, HistoryInstance:
		return 'r'
	case Update, Patch:
		return 'u'
	case Delete:
		return 'd'
	case SearchType, SearchSystem, HistoryType, HistorySystem:
		return 's'
	}
	return 0
}

// Request is the input of one decision.
type Request struct {
	Principal   *fhir.Principal
	Interaction Interaction
	// Type is the resource type the interaction concerns; "" for an
	// interaction over every type (a system search without _type, system
	// history).
	Type string
	// Resource, when set, is the one resource the decision is about: the
	// resource read, a search match, an included resource, a history entry,
	// the stored version a write replaces or the version it would write.
	// It must have content: for a deletion, pass the last version before it.
	// Without Resource the decision is about the type, and says through
	// Limits which of its resources the interaction may reach.
	Resource *fhir.Resource
	// Index returns the search index entries of Resource, and is called only
	// when the decision needs them; nil means Resource.Index holds them.
	Index func() ([]fhir.IndexEntry, error)
	// Refers, when set, reports whether Resource refers to ref ("Type/id")
	// through one of params, from what the store indexed for it: cheaper
	// than Index when Resource is a stored current version, and used then
	// for the compartment, unless Resource.Index is at hand.
	Refers func(params []string, ref string) (bool, error)
}

// Decision is the answer. A denial is a Decision with Permit false, never
// an error.
type Decision struct {
	Permit bool
	// Conceal, on a denial about one resource, asks the caller to answer
	// as if the resource did not exist: it holds data of a patient the
	// principal does not reach, and even its existence is not theirs to
	// learn.
	Conceal bool
	// Reason explains a denial by interaction and type, never by data, so
	// it may be shown to the client.
	Reason string
	// Limits are the obligations of a permit about a type: a resource of
	// the type is reachable only when it satisfies at least one Limit. Nil
	// means every resource of the type. The caller applies them to queries
	// (so counts and pages are over the reachable set) and asks again with
	// Resource set for resources reached another way.
	//
	// For a request without Type, Limits is nil when every resource of
	// every type is reachable; otherwise it is empty but not nil, and each
	// type must be decided on its own: Types, AnyType and Except say which.
	Limits []Limit
	// Types lists, for a request without Type, the types named by the
	// permissions that grant the interaction; AnyType reports that a
	// permission for every type ("*") grants it too.
	Types   []string
	AnyType bool
	// Except, for a request without Type, lists the types that permissions
	// reaching every other type without limit do not reach so (AuditEvent,
	// for a principal that may not read AuditEvents): every type is then
	// reachable, all but these without limit. Limits is empty, not nil, so
	// that a caller still decides each type on its own.
	Except []string
	// StepUp, when set, is a further obligation: resources carrying one
	// of its labels need a recent strong sign-in the principal's token
	// does not show (RFC 9470). On a permit about a type, the caller
	// checks each resource it would return with StepUp.Needs; on a
	// decision about one resource that carries such a label, Permit is
	// false and the caller answers 401 insufficient_user_authentication.
	StepUp *StepUp
}

// Limit is one set of conditions that together make a resource reachable.
// Its slices are shared between decisions: read them, never change them.
type Limit struct {
	// Patient, when set, requires the resource to be in this patient's
	// compartment: the Patient resource with that id, or a resource whose
	// Params refer to it. Params are the type's Patient compartment
	// parameters or, for a type outside the compartment that may still
	// name a patient (Device.patient), its parameters that may point to
	// a Patient.
	Patient string
	Params  []string
	// Match requires the resource to match these criteria (Type, IDs and
	// Clauses, read as a search); its zero value matches every resource.
	Match fhir.Query
}

// Unlimited reports whether l reaches every resource of its type.
func (l Limit) Unlimited() bool {
	return l.Patient == "" && l.Match.IDs == nil && len(l.Match.Clauses) == 0
}

func (l Limit) unmatched() bool { return l.Match.IDs == nil && len(l.Match.Clauses) == 0 }
