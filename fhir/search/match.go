package search

import (
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// Match reports whether a resource with these index entries satisfies
// every clause of q, by the rules documented on fhir.Clause. It looks at
// q.Clauses only; q.Type, q.IDs and q.Tokens concern the envelope (see
// MatchResource).
//
// One addition to those rules: a reference value with AnySystem set (a bare
// id on a parameter that may refer to any type) matches an entry of a
// reference to this server (System set) whose Code is System + "/" + the
// id.
func Match(entries []fhir.IndexEntry, q fhir.Query) bool {
	for _, c := range q.Clauses {
		if !matchClause(entries, c) {
			return false
		}
	}
	return true
}

// MatchResource reports whether r satisfies all of q: its type, its id,
// its identifier Tokens and its Index entries.
func MatchResource(r *fhir.Resource, q fhir.Query) bool {
	if q.Type != "" && r.Type != q.Type {
		return false
	}
	if len(q.IDs) > 0 && !slices.Contains(q.IDs, r.ID) {
		return false
	}
	if len(q.Tokens) > 0 && !slices.ContainsFunc(q.Tokens, func(t fhir.Token) bool {
		return slices.ContainsFunc(r.Tokens, func(have fhir.Token) bool {
			return have.Param == t.Param && have.Code == t.Code && (t.System == "" || have.System == t.System)
		})
	}) {
		return false
	}
	return Match(r.Index, q)
}

func matchClause(entries []fhir.IndexEntry, c fhir.Clause) bool {
	param := c.Param
	switch c.Modifier {
	case "of-type", "identifier":
		param += ":" + c.Modifier
	}
	if c.Missing != nil {
		has := slices.ContainsFunc(entries, func(e fhir.IndexEntry) bool { return e.Param == param })
		return has != *c.Missing
	}
	found := slices.ContainsFunc(entries, func(e fhir.IndexEntry) bool {
		return e.Param == param && slices.ContainsFunc(c.Values, func(v fhir.Value) bool {
			return matchValue(c.Type, c.Modifier, e, v)
		})
	})
	if c.Modifier == "not" {
		return !found
	}
	return found
}

// matchValue reports whether entry e matches value v of a clause of type
// typ with modifier mod.
func matchValue(typ fhir.ParamType, mod string, e fhir.IndexEntry, v fhir.Value) bool {
	switch typ {
	case fhir.TypeString:
		switch mod {
		case "exact":
			return e.Code == v.Code
		case "contains":
			return strings.Contains(e.Text, v.Code)
		}
		return strings.HasPrefix(e.Text, v.Code)
	case fhir.TypeToken:
		switch mod {
		case "text":
			return strings.HasPrefix(e.Text, v.Code)
		case "of-type":
			return e.System == v.System && e.Code == v.Code && e.Text == v.Text
		}
		return (v.AnySystem || e.System == v.System) && (v.Code == "" || e.Code == v.Code)
	case fhir.TypeReference:
		switch {
		case mod == "identifier":
			// The identifier entry holds the value in Text.
			return (v.AnySystem || e.System == v.System) && (v.Code == "" || e.Text == v.Code)
		case v.AnySystem:
			return e.System != "" && e.Code == e.System+"/"+v.Code
		}
		return e.Code == v.Code
	case fhir.TypeURI:
		switch mod {
		case "above":
			return strings.HasPrefix(v.Code, e.Code)
		case "below":
			return strings.HasPrefix(e.Code, v.Code)
		}
		return e.Code == v.Code
	case fhir.TypeDate, fhir.TypeNumber:
		return matchRange(e, v)
	case fhir.TypeQuantity:
		if v.Code != "" && (e.Code != v.Code || v.System != "" && e.System != v.System) {
			return false
		}
		return matchRange(e, v)
	case fhir.TypeComposite:
		if len(e.Parts) != len(v.Parts) {
			return false
		}
		for i := range v.Parts {
			if !matchValue(e.Parts[i].Kind, "", e.Parts[i], v.Parts[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// matchRange compares the ranges [e.Low, e.High) and [v.Low, v.High) by
// v.Prefix.
func matchRange(e fhir.IndexEntry, v fhir.Value) bool {
	eq := e.Low >= v.Low && e.High <= v.High
	gt := e.High > v.High
	lt := e.Low < v.Low
	switch v.Prefix {
	case "", "eq":
		return eq
	case "ne":
		return !eq
	case "gt":
		return gt
	case "lt":
		return lt
	case "ge":
		return gt || eq
	case "le":
		return lt || eq
	case "sa":
		return e.Low >= v.High
	case "eb":
		return e.High <= v.Low
	case "ap":
		return e.Low < v.High+v.Approx && e.High > v.Low-v.Approx
	}
	return false
}
