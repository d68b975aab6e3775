package storetest_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// The Clause and SortKey rules of fhir/index.go, as plainly as Go says
// them, for memStore.

func (m *memStore) Count(_ context.Context, q fhir.Query) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q.Offset, q.Limit = 0, 0
	out, err := search(m.current, q)
	return len(out), err
}

// matchAll reports whether the entries satisfy every clause.
func matchAll(index []fhir.IndexEntry, cs []fhir.Clause) (bool, error) {
	for _, c := range cs {
		ok, err := matchClause(index, c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func matchClause(index []fhir.IndexEntry, c fhir.Clause) (bool, error) {
	if c.Missing != nil {
		has := slices.ContainsFunc(index, func(e fhir.IndexEntry) bool { return e.Param == c.Param })
		return has != *c.Missing, nil
	}
	param := c.Param
	switch c.Modifier {
	case "of-type", "identifier":
		param += ":" + c.Modifier
	}
	found := false
	for _, e := range index {
		if e.Param != param {
			continue
		}
		for _, v := range c.Values {
			ok, err := matchValue(c.Type, c.Modifier, e, v)
			if err != nil {
				return false, err
			}
			found = found || ok
		}
	}
	if c.Modifier == "not" {
		return !found, nil
	}
	return found, nil
}

func tokenMatch(system, code string, v fhir.Value) bool {
	return (v.AnySystem || system == v.System) && (v.Code == "" || code == v.Code)
}

func matchValue(typ fhir.ParamType, mod string, e fhir.IndexEntry, v fhir.Value) (bool, error) {
	bad := fmt.Errorf("%w: modifier %q on %s", errUnsupported, mod, typ)
	switch typ {
	case fhir.TypeString:
		switch mod {
		case "":
			return strings.HasPrefix(e.Text, v.Code), nil
		case "exact":
			return e.Code == v.Code, nil
		case "contains":
			return strings.Contains(e.Text, v.Code), nil
		}
	case fhir.TypeToken:
		switch mod {
		case "", "not":
			return tokenMatch(e.System, e.Code, v), nil
		case "text":
			return strings.HasPrefix(e.Text, v.Code), nil
		case "of-type":
			return e.System == v.System && e.Code == v.Code && e.Text == v.Text, nil
		}
	case fhir.TypeReference:
		switch {
		case mod == "identifier":
			return tokenMatch(e.System, e.Text, v), nil
		case mod != "":
		case v.AnySystem: // a bare id, any type
			return e.System != "" && e.Code == e.System+"/"+v.Code, nil
		default:
			return e.Code == v.Code, nil
		}
	case fhir.TypeURI:
		switch mod {
		case "":
			return e.Code == v.Code, nil
		case "above":
			return strings.HasPrefix(v.Code, e.Code), nil
		case "below":
			return strings.HasPrefix(e.Code, v.Code), nil
		}
	case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
		if mod != "" {
			return false, bad
		}
		ok, err := rangeMatch(e.Low, e.High, v)
		if typ == fhir.TypeQuantity {
			ok = ok && (v.Code == "" || e.Code == v.Code && (v.System == "" || e.System == v.System))
		}
		return ok, err
	case fhir.TypeComposite:
		if mod != "" {
			return false, bad
		}
		if len(e.Parts) != len(v.Parts) {
			return false, nil
		}
		for i, p := range e.Parts {
			ok, err := matchValue(p.Kind, "", p, v.Parts[i])
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	return false, bad
}

var errUnsupported = &fhir.Error{Code: fhir.CodeNotSupported, Diagnostics: "not supported"}

// rangeMatch compares the entry's [lo, hi) with the value's range.
func rangeMatch(lo, hi float64, v fhir.Value) (bool, error) {
	eq := lo >= v.Low && hi <= v.High
	switch v.Prefix {
	case "", "eq":
		return eq, nil
	case "ne":
		return !eq, nil
	case "gt":
		return hi > v.High, nil
	case "lt":
		return lo < v.Low, nil
	case "ge":
		return hi > v.High || eq, nil
	case "le":
		return lo < v.Low || eq, nil
	case "sa":
		return lo >= v.High, nil
	case "eb":
		return hi <= v.Low, nil
	case "ap":
		return lo < v.High+v.Approx && hi > v.Low-v.Approx, nil
	}
	return false, &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "unknown prefix " + v.Prefix}
}

// sortValue is what r sorts by under k: the smallest entry value
// ascending, the largest descending; ok false without entries.
func sortValue(index []fhir.IndexEntry, k fhir.SortKey) (s string, f float64, ok bool) {
	for _, e := range index {
		if e.Param != k.Param {
			continue
		}
		var es string
		var ef float64
		switch k.Type {
		case fhir.TypeString:
			es = e.Text
		case fhir.TypeToken, fhir.TypeReference, fhir.TypeURI:
			es = e.Code
		case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
			ef = e.Low
			if k.Desc {
				ef = e.High
			}
		}
		better := es < s || ef < f
		if k.Desc {
			better = es > s || ef > f
		}
		if !ok || better {
			s, f, ok = es, ef, true
		}
	}
	return s, f, ok
}

// sortByKeys orders rs by keys, then by type and id.
func sortByKeys(rs []*version, keys []fhir.SortKey) {
	slices.SortStableFunc(rs, func(a, b *version) int {
		for _, k := range keys {
			as, af, aok := sortValue(a.res.Index, k)
			bs, bf, bok := sortValue(b.res.Index, k)
			switch {
			case aok && !bok:
				return -1
			case !aok && bok:
				return 1
			case !aok:
				continue
			}
			c := cmp.Or(cmp.Compare(as, bs), cmp.Compare(af, bf))
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.res.Type, b.res.Type), cmp.Compare(a.res.ID, b.res.ID))
	})
}
