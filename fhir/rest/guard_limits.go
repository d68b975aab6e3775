package rest

// Access limits applied to queries: the Limits of a decision become
// criteria, or, where a query cannot say them (a compartment linked
// through several parameters, a union of different criteria), the ids of
// the resources they reach, collected up to a bound.

import (
	"slices"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

// restrict narrows q, a query of one type, to what op reaches; empty
// reports that nothing can match. find runs the extra queries a limit may
// need (the store's or a unit of work's).
func (g *gate) restrict(find searcher, op consent.Interaction, q *fhir.Query) (empty bool, err error) {
	d, err := g.allow(op, q.Type)
	if err != nil || d.Limits == nil {
		return false, err
	}
	return g.h.limit(find, d.Limits, q)
}

// maxLimited bounds the resources collected to apply limits that a query
// cannot express (a compartment linked through several parameters, a union
// of different criteria). A variable so tests can lower it.
var maxLimited = maxCompartment

func tooCostlyLimits(typ string) error {
	return &fhir.Error{Code: fhir.CodeTooCostly, Diagnostics: "the access granted on " + typ + " cannot be applied to a search this broad; narrow it"}
}

// limit narrows q to the union of limits.
func (h *handler) limit(find searcher, limits []consent.Limit, q *fhir.Query) (bool, error) {
	if len(limits) == 1 {
		if ok := narrow(q, limits[0]); ok {
			return noIDs(q), nil
		}
	}
	reach := map[string]bool{}
	for _, l := range limits {
		if err := h.reach(find, *q, l, reach); err != nil {
			return false, err
		}
	}
	q.IDs = intersect(q.IDs, reach)
	if len(q.IDs) == 0 {
		q.IDs = []string{""} // no resource has the empty id
		return true, nil
	}
	return false, nil
}

func noIDs(q *fhir.Query) bool { return len(q.IDs) == 1 && q.IDs[0] == "" }

// narrow adds l to q as criteria, when a query can say it: false when the
// compartment needs a union over several parameters (q is then unchanged).
func narrow(q *fhir.Query, l consent.Limit) bool {
	var patient *fhir.Clause
	if l.Patient != "" && q.Type != "Patient" {
		ref := "Patient/" + l.Patient
		if !slices.ContainsFunc(q.Clauses, func(c fhir.Clause) bool { return pointsTo(c, l.Params, ref) }) {
			if len(l.Params) != 1 {
				return false
			}
			patient = &fhir.Clause{Param: l.Params[0], Type: fhir.TypeReference, Values: []fhir.Value{{System: "Patient", Code: ref}}}
		}
	}
	q.Clauses = append(slices.Clip(q.Clauses), l.Match.Clauses...)
	if patient != nil {
		q.Clauses = append(q.Clauses, *patient)
	}
	if l.Match.IDs != nil {
		q.IDs = keepIDs(q.IDs, l.Match.IDs)
	}
	if l.Patient != "" && q.Type == "Patient" {
		q.IDs = keepIDs(q.IDs, []string{l.Patient})
	}
	return true
}

// pointsTo reports whether c already confines a search to resources whose
// compartment parameter refers to ref.
func pointsTo(c fhir.Clause, params []string, ref string) bool {
	return c.Modifier == "" && c.Missing == nil && c.Type == fhir.TypeReference && len(c.Values) > 0 && slices.Contains(params, c.Param) &&
		!slices.ContainsFunc(c.Values, func(v fhir.Value) bool { return v.Code != ref || v.AnySystem })
}

// keepIDs is ids (nil: any) restricted to allowed; the single id "" when
// none is left.
func keepIDs(ids, allowed []string) []string {
	out := []string{}
	for _, id := range allowed {
		if ids == nil || slices.Contains(ids, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

// reach adds to ids those of the resources matching q within l.
func (h *handler) reach(find searcher, q fhir.Query, l consent.Limit, ids map[string]bool) error {
	var queries []fhir.Query
	if narrow(&q, l) {
		queries = append(queries, q)
	} else {
		ref := []fhir.Value{{System: "Patient", Code: "Patient/" + l.Patient}}
		ln := l
		ln.Patient = ""
		narrow(&q, ln)
		for _, param := range l.Params {
			pq := q
			pq.Clauses = append(slices.Clip(q.Clauses), fhir.Clause{Param: param, Type: fhir.TypeReference, Values: ref})
			queries = append(queries, pq)
		}
	}
	for _, pq := range queries {
		if noIDs(&pq) {
			continue
		}
		pq.Sort, pq.Offset, pq.Limit = nil, 0, maxLimited+1
		found, err := find(pq)
		if err != nil {
			return err
		}
		for _, r := range found {
			ids[r.ID] = true
		}
		if len(ids) > maxLimited {
			return tooCostlyLimits(q.Type)
		}
	}
	return nil
}

// withLedgers is a search over every type: the store's over the general
// ones, and one over each ledger type (kept apart by the engines, see
// fhir.IsLedger) that can answer its criteria and has no sort to merge.
func withLedgers(q fhir.Query) []fhir.Query {
	out := []fhir.Query{q}
	if len(q.Sort) > 0 {
		return out
	}
	for _, t := range fhir.LedgerTypes() {
		lq := q
		lq.Type = t
		if _, err := fhir.CompileLedger(lq); err == nil {
			out = append(out, lq)
		}
	}
	return out
}

// allowTypes decides a system search: each _type must be searchable;
// without _type, at least one type must be.
func (g *gate) allowTypes(types []string) error {
	if len(types) == 0 {
		_, err := g.allow(consent.SearchSystem, "")
		return err
	}
	for _, t := range types {
		if _, err := g.allow(consent.SearchSystem, t); err != nil {
			return err
		}
	}
	return nil
}

// parts turns a search into the queries it runs, each narrowed to what the
// principal reaches (and its sign-in shows, see hidden): q itself when it
// has a type, or when it has none and every type is reachable without
// limit; else one query per type (each _type, or without _type every type
// the principal may search), leaving out those that can match nothing.
//
// Without _type, the types a permission for every type ("*") reaches under
// limits are those of the Patient compartment: a type outside it is
// searched when a permission names it, or through _type. When the
// permissions reach every type without limit but one the decision excepts
// (AuditEvent, for who may not read AuditEvents), every type served is
// searched, each on its own, and the excepted one only as far as it is
// reached.
func (g *gate) parts(find searcher, q fhir.Query, types []string) ([]fhir.Query, error) {
	op := consent.SearchSystem
	switch {
	case q.Type != "":
		op, types = consent.SearchType, []string{q.Type}
	case len(types) == 0:
		d, err := g.allow(op, "")
		if err != nil {
			return nil, err
		}
		if d.Limits == nil {
			out := withLedgers(q)
			return out, g.hide(op, &out[0])
		}
		types = slices.Clone(d.Types)
		if d.Except != nil {
			// Every type but the excepted ones is reached without limit;
			// those are decided below like the rest.
			types = g.h.everyType()
		} else if d.AnyType {
			for _, t := range g.h.compartmentTypes() {
				if !slices.Contains(types, t) {
					types = append(types, t)
				}
			}
		}
		// Only the types the principal may search: the others are left
		// out quietly.
		if types, err = g.permitted(op, types); err != nil {
			return nil, err
		}
	}
	out := make([]fhir.Query, 0, len(types))
	for _, t := range types {
		tq := q
		tq.Type = t
		empty, err := g.restrict(find, op, &tq)
		if err == nil {
			err = g.hide(op, &tq)
		}
		if err != nil {
			return nil, err
		}
		if !empty {
			out = append(out, tq)
		}
	}
	return out, nil
}

// everyType lists every type served (the Patient compartment's when Deps
// does not list them).
func (h *handler) everyType() []string {
	if len(h.ResourceTypes) == 0 {
		return h.compartmentTypes()
	}
	return slices.Clone(h.ResourceTypes)
}
