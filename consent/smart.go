package consent

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// Config is what the policy needs to know about the server.
type Config struct {
	// Params knows the search parameters; granular permissions
	// (patient/Observation.rs?category=...) are read with it. Without it a
	// permission with a query grants nothing.
	Params search.Params
	// Compartment is the Patient compartment: resource type → the search
	// parameters that put a resource of the type in a patient's
	// compartment. Types it does not list hold no patient's data.
	Compartment map[string][]string
	// BaseURL is the FHIR base, so that absolute references to this server
	// in a permission's query read as Type/id.
	BaseURL string
	// StepUp is when labelled resources need a recent strong sign-in
	// (off without labels).
	StepUp StepUpRule
}

// Policy decides from the principal's SMART permissions and patient
// context. It is safe for concurrent use.
type Policy struct {
	cfg Config
	// constraints caches permission queries parsed per type: a token's
	// scopes are parsed once, not on every request.
	mu          sync.RWMutex
	constraints map[constraintKey]*constraint
	// linkedParams caches linked: type → its reference parameters that
	// may point to a Patient.
	linkedParams map[string][]string
}

// maxCached bounds the cache of parsed permission queries, and that of
// linked parameters; entries past it are computed on each use.
const maxCached = 4096

// New returns the policy.
func New(cfg Config) *Policy {
	return &Policy{cfg: cfg, constraints: map[constraintKey]*constraint{}, linkedParams: map[string][]string{}}
}

// Decide answers req. The error is a failure to decide (an unknown
// interaction, index entries that could not be computed), never a denial.
func (p *Policy) Decide(ctx context.Context, req Request) (Decision, error) {
	letter := req.Interaction.letter()
	if letter == 0 {
		return Decision{}, fmt.Errorf("consent: unknown interaction %q", req.Interaction)
	}
	who := req.Principal
	if who == nil {
		return Decision{Reason: "the request carries no credentials"}, nil
	}
	d, err := p.decide(req, who, letter)
	if err != nil || !d.Permit {
		return d, err
	}
	// Labels ask for a strong, recent sign-in: only of what the principal
	// may reach anyway, so that a refusal tells nothing of other data.
	if d.StepUp = p.cfg.StepUp.stepUp(who); d.StepUp != nil && d.StepUp.Needs(req.Resource) {
		return Decision{StepUp: d.StepUp, Reason: d.StepUp.Reason}, nil
	}
	return d, nil
}

// decide is Decide without the step-up rule.
func (p *Policy) decide(req Request, who *fhir.Principal, letter byte) (Decision, error) {
	if req.Type == "" {
		return p.systemWide(who, req.Interaction, letter), nil
	}
	limits, ok := p.grants(who, letter, req.Type)
	if !ok {
		if req.Type == auditEvent {
			return Decision{Reason: auditDenial(req.Interaction)}, nil
		}
		return Decision{Reason: "the access granted does not include " + string(req.Interaction) + " of " + req.Type}, nil
	}
	if req.Resource == nil || limits == nil {
		return Decision{Permit: true, Limits: limits}, nil
	}
	return p.admit(req, limits)
}

// grants collects what the principal's permissions allow for one letter on
// one type: ok is false when none does; nil limits when one reaches every
// resource of the type. Several permissions give their union.
func (p *Policy) grants(who *fhir.Principal, letter byte, typ string) (limits []Limit, ok bool) {
	for _, perm := range who.Scopes {
		if perm.Type != typ && perm.Type != "*" || strings.IndexByte(perm.Ops, letter) < 0 {
			continue
		}
		if typ == auditEvent && !reachesAudit(who, perm.Level, letter) {
			continue
		}
		var l Limit
		switch perm.Level {
		case "patient":
			var reach bool
			if l, reach = p.patientLimit(who.Patient, letter, typ); !reach {
				continue
			}
		case "user", "system":
			// Not bound to a compartment; roles will narrow these later.
		default:
			continue
		}
		if perm.Query != "" {
			c := p.constraint(typ, perm.Query)
			if c.err != nil {
				continue // a permission the server cannot read grants nothing
			}
			l.Match = c.q
		}
		limits = append(limits, l)
	}
	if len(limits) == 0 {
		return nil, false
	}
	return merge(limits), true
}

// patientLimit is what a patient-level permission reaches on typ in the
// context of patient. A patient-level permission without a patient in
// context reaches nothing.
//
// Reading and searching: the Patient in context; the resources of its
// compartment; the types that hold no patient's data (openTypes), without
// limit; and the other types whose reference parameters may point to a
// Patient (Device.patient, Contract.subject, ...), as an extra compartment
// through those parameters (see linked). Every other type is refused: it
// may hold any patient's data (a Binary's content, a Bundle's entries, a
// Subscription's criteria) and nothing ties one of its resources to the
// patient in context. AuditEvent, though in the compartment, is refused
// too (see reachesAudit).
//
// Writing: only the Patient in context and the resources of its
// compartment, and, among those, never Provenance (the server's record of
// what was done, which a patient may not forge) nor Consent (which governs
// access itself). See also forOther: a write may not name another patient.
func (p *Policy) patientLimit(patient string, letter byte, typ string) (Limit, bool) {
	if patient == "" || typ == auditEvent {
		return Limit{}, false
	}
	write := writes(letter)
	if write && recordKeeping[typ] {
		return Limit{}, false
	}
	if typ == "Patient" {
		return Limit{Patient: patient}, true
	}
	if params := p.cfg.Compartment[typ]; len(params) > 0 {
		return Limit{Patient: patient, Params: params}, true
	}
	switch {
	case write:
		return Limit{}, false
	case openTypes[typ]:
		return Limit{}, true
	}
	if params := p.linked(typ); len(params) > 0 {
		return Limit{Patient: patient, Params: params}, true
	}
	return Limit{}, false
}

// writes reports whether a scope letter changes data.
func writes(letter byte) bool { return letter == 'c' || letter == 'u' || letter == 'd' }

// recordKeeping lists the compartment types a patient-level permission may
// read but never write: a Provenance says who did what, and a patient
// writing one could forge that record; a Consent decides who may see the
// patient's data, and changing one will have rules of its own, not a
// token's write scopes.
var recordKeeping = map[string]bool{"Provenance": true, "Consent": true}

// systemWide decides an interaction over every type: permitted when some
// permission grants its letter, unlimited when one grants it on every type
// without condition and that reaches AuditEvent too (else Except names
// it).
func (p *Policy) systemWide(who *fhir.Principal, in Interaction, letter byte) Decision {
	d := Decision{Limits: []Limit{}}
	for _, perm := range who.Scopes {
		if strings.IndexByte(perm.Ops, letter) < 0 || perm.Type == auditEvent && !reachesAudit(who, perm.Level, letter) {
			continue
		}
		switch perm.Level {
		case "patient":
			if who.Patient == "" {
				continue
			}
			if _, reach := p.patientLimit(who.Patient, letter, perm.Type); perm.Type != "*" && !reach {
				continue
			}
		case "user", "system":
			if perm.Type == "*" && perm.Query == "" {
				d.Limits = nil
			}
		default:
			continue
		}
		d.Permit = true
		if perm.Type == "*" {
			d.AnyType = true
		} else if !slices.Contains(d.Types, perm.Type) {
			d.Types = append(d.Types, perm.Type)
		}
	}
	if !d.Permit {
		return Decision{Reason: "the access granted does not include " + string(in) + " on any resource type"}
	}
	if d.Limits == nil {
		if d.Except = p.auditExcept(who, letter); d.Except != nil {
			d.Limits = []Limit{}
		}
	}
	slices.Sort(d.Types)
	return d
}

// admit decides about one resource: reachable when one limit admits it;
// otherwise concealed when it lies in no compartment the limits reach (it
// is another patient's), refused when it is within reach but outside the
// permitted criteria. A write under a patient limit also conceals a
// resource that names another patient (see forOther).
func (p *Policy) admit(req Request, limits []Limit) (Decision, error) {
	r := req.Resource
	write := writes(req.Interaction.letter())
	var entries []fhir.IndexEntry
	loaded := false
	index := func() ([]fhir.IndexEntry, error) {
		if loaded {
			return entries, nil
		}
		loaded = true
		if req.Index == nil {
			entries = r.Index
			return entries, nil
		}
		var err error
		entries, err = req.Index()
		return entries, err
	}
	reachable := false
	for _, l := range limits {
		if l.Patient != "" {
			in, err := inCompartment(r, l, index, req.Refers)
			if err == nil && in && write {
				var other bool
				other, err = forOther(r, p.cfg.Compartment[r.Type], l.Patient, index)
				in = !other
			}
			if err != nil {
				return Decision{}, fmt.Errorf("consent: %s/%s: %w", r.Type, r.ID, err)
			}
			if !in {
				continue
			}
		}
		reachable = true
		ok, err := matches(r, l.Match, index)
		if err != nil {
			return Decision{}, fmt.Errorf("consent: %s/%s: %w", r.Type, r.ID, err)
		}
		if ok {
			return Decision{Permit: true}, nil
		}
	}
	if !reachable {
		return Decision{Conceal: true, Reason: r.Type + " not found"}, nil
	}
	return Decision{Reason: "the resource is outside the access granted for " + string(req.Interaction) + " of " + r.Type}, nil
}

// inCompartment reports whether r is in the compartment of l.Patient.
func inCompartment(r *fhir.Resource, l Limit, index func() ([]fhir.IndexEntry, error), refers func([]string, string) (bool, error)) (bool, error) {
	if r.Type == "Patient" {
		return r.ID == l.Patient, nil
	}
	ref := "Patient/" + l.Patient
	// Every form of a reference to the patient (relative, absolute, with a
	// version) holds "Patient/<id>": without it, no index entry can point
	// to the patient, and the index need not be computed.
	if !bytes.Contains(r.JSON, []byte(ref)) {
		return false, nil
	}
	if r.Index == nil && refers != nil {
		return refers(l.Params, ref)
	}
	entries, err := index()
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Kind == fhir.TypeReference && e.Code == ref && slices.Contains(l.Params, e.Param) {
			return true, nil
		}
	}
	return false, nil
}

// forOther reports whether r refers, through one of params (its type's
// Patient compartment parameters), to a Patient other than patient: r is
// then in that patient's compartment too. A resource is in a compartment
// when any one of its parameters points to the patient, so a Condition
// whose subject is another patient and whose asserter is the one in
// context is in both: reading it is the asserter's right, writing it would
// put data into the other patient's record.
func forOther(r *fhir.Resource, params []string, patient string, index func() ([]fhir.IndexEntry, error)) (bool, error) {
	// No shortcut on the raw JSON here, as inCompartment takes: a
	// reference may be written with escapes ("Patient\/p2"), and a missed
	// one would let the write through.
	if len(params) == 0 {
		return false, nil
	}
	entries, err := index()
	if err != nil {
		return false, err
	}
	self := "Patient/" + patient
	return slices.ContainsFunc(entries, func(e fhir.IndexEntry) bool {
		return e.Kind == fhir.TypeReference && e.System == "Patient" && e.Code != self && slices.Contains(params, e.Param)
	}), nil
}

// matches reports whether r satisfies q (its ids and clauses).
func matches(r *fhir.Resource, q fhir.Query, index func() ([]fhir.IndexEntry, error)) (bool, error) {
	if q.IDs != nil && !slices.Contains(q.IDs, r.ID) {
		return false, nil
	}
	if len(q.Clauses) == 0 {
		return true, nil
	}
	entries, err := index()
	if err != nil {
		return false, err
	}
	return search.Match(entries, q), nil
}
