package consent

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// constraint is a permission's query read for one resource type.
type constraint struct {
	q   fhir.Query
	err error
}

// constraint returns the query of a permission read as criteria on typ,
// parsed once and cached.
func (p *Policy) constraint(typ, query string) *constraint {
	key := constraintKey{typ, query}
	p.mu.RLock()
	c, ok := p.constraints[key]
	p.mu.RUnlock()
	if ok {
		return c
	}
	c = p.parse(typ, query)
	p.mu.Lock()
	if len(p.constraints) < maxCached {
		p.constraints[key] = c
	}
	p.mu.Unlock()
	return c
}

type constraintKey struct{ typ, query string }

var errUnsupported = errors.New("consent: a permission's query may hold only plain search criteria")

// parse reads a permission's query. Only plain criteria are accepted:
// parameters of the type, _id, _lastUpdated, _tag, _profile and _security,
// with their modifiers. Chains, _has and result parameters are refused, as
// they cannot be checked against one resource.
func (p *Policy) parse(typ, query string) *constraint {
	if p.cfg.Params == nil {
		return &constraint{err: errUnsupported}
	}
	values, err := url.ParseQuery(query)
	if err != nil || len(values) == 0 {
		return &constraint{err: errUnsupported}
	}
	for k := range values {
		name, _, _ := strings.Cut(k, ":")
		if strings.Contains(k, ".") || strings.HasPrefix(name, "_") && !plainSpecial[name] {
			return &constraint{err: errUnsupported}
		}
	}
	parsed, err := search.Parse(typ, values, p.cfg.Params, search.Options{Strict: true, BaseURL: p.cfg.BaseURL})
	if err != nil {
		return &constraint{err: err}
	}
	if len(parsed.Chains) > 0 || len(parsed.Has) > 0 {
		return &constraint{err: errUnsupported}
	}
	return &constraint{q: fhir.Query{Type: typ, IDs: parsed.Query.IDs, Clauses: parsed.Query.Clauses}}
}

var plainSpecial = map[string]bool{"_id": true, "_lastUpdated": true, "_tag": true, "_profile": true, "_security": true}

// merge simplifies a union of limits: one that reaches everything absorbs
// the rest; for one patient (or none), a limit without criteria absorbs
// those with criteria; limits of one patient whose criteria are a single
// clause on the same parameter become one clause with all their values
// (category=laboratory or category=vital-signs).
func merge(limits []Limit) []Limit {
	if len(limits) == 1 {
		if limits[0].Unlimited() {
			return nil
		}
		return limits
	}
	for _, l := range limits {
		if l.Unlimited() {
			return nil
		}
	}
	out := make([]Limit, 0, len(limits))
next:
	for _, l := range limits {
		for i, o := range out {
			if o.Patient != l.Patient {
				continue
			}
			switch {
			case o.unmatched():
				continue next
			case l.unmatched():
				out[i] = l
				continue next
			}
			if c, ok := union(o.Match, l.Match); ok {
				out[i].Match = c
				continue next
			}
		}
		out = append(out, l)
	}
	// An unmatched limit put in place of one may now sit beside others of
	// its patient that it absorbs.
	return slices.DeleteFunc(out, func(l Limit) bool {
		return !l.unmatched() && slices.ContainsFunc(out, func(o Limit) bool { return o.Patient == l.Patient && o.unmatched() })
	})
}

// union joins two criteria that are each one clause on the same parameter,
// with the same modifier, into one clause holding the values of both.
func union(a, b fhir.Query) (fhir.Query, bool) {
	if a.IDs != nil || b.IDs != nil || len(a.Clauses) != 1 || len(b.Clauses) != 1 {
		return a, false
	}
	x, y := a.Clauses[0], b.Clauses[0]
	if x.Param != y.Param || x.Type != y.Type || x.Modifier != y.Modifier || x.Missing != nil || y.Missing != nil || x.Modifier == "not" {
		return a, false
	}
	x.Values = append(slices.Clip(x.Values), y.Values...)
	a.Clauses = []fhir.Clause{x}
	return a, true
}
