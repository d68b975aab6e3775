package mongostore

import (
	"cmp"
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// checkQuery refuses, with a *fhir.Error, the clauses and sort keys the
// SQLite engine refuses, with the same codes: both engines answer a search
// alike, errors included.
func checkQuery(q fhir.Query) error {
	for _, c := range q.Clauses {
		if err := checkClause(c); err != nil {
			return err
		}
	}
	for _, k := range q.Sort {
		if sortField(k) == "" {
			return fhir.Errorf(fhir.CodeNotSupported, "sorting by %s parameter %s is not supported", k.Type, k.Param)
		}
	}
	return nil
}

// modifiers lists the modifiers each type takes (besides missing, which
// is Clause.Missing).
var modifiers = map[fhir.ParamType][]string{
	fhir.TypeString:    {"", "exact", "contains"},
	fhir.TypeToken:     {"", "not", "text", "of-type"},
	fhir.TypeReference: {"", "identifier"},
	fhir.TypeURI:       {"", "below", "above"},
	fhir.TypeDate:      {""},
	fhir.TypeNumber:    {""},
	fhir.TypeQuantity:  {""},
	fhir.TypeComposite: {""},
	fhir.TypeSpecial:   {},
}

func checkClause(c fhir.Clause) error {
	if c.Param == "" {
		return fhir.Errorf(fhir.CodeInvalid, "search clause without a parameter")
	}
	mods, ok := modifiers[c.Type]
	if !ok || c.Type == fhir.TypeSpecial && c.Missing == nil {
		return fhir.Errorf(fhir.CodeNotSupported, "search parameter %s of type %q is not supported", c.Param, c.Type)
	}
	if c.Missing != nil {
		return nil
	}
	if len(c.Values) == 0 {
		return fhir.Errorf(fhir.CodeInvalid, "search parameter %s has no value", c.Param)
	}
	if !slices.Contains(mods, c.Modifier) {
		return fhir.Errorf(fhir.CodeNotSupported, "modifier :%s is not supported on %s parameter %s", c.Modifier, c.Type, c.Param)
	}
	for _, v := range c.Values {
		switch c.Type {
		case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
			if !knownPrefix(v.Prefix) {
				return fhir.Errorf(fhir.CodeInvalid, "unknown search prefix %q", v.Prefix)
			}
		case fhir.TypeComposite:
			if len(v.Parts) == 0 {
				return fhir.Errorf(fhir.CodeInvalid, "composite search parameter %s has a value without parts", c.Param)
			}
			for _, p := range v.Parts {
				if !knownPrefix(p.Prefix) {
					return fhir.Errorf(fhir.CodeInvalid, "unknown search prefix %q", p.Prefix)
				}
			}
		}
	}
	return nil
}

func knownPrefix(p string) bool {
	switch p {
	case "", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap":
		return true
	}
	return false
}

// entryParam is the param of the entries a clause looks at: the
// "<param>:of-type" and "<param>:identifier" entries for those modifiers.
func entryParam(c fhir.Clause) string {
	switch c.Modifier {
	case "of-type", "identifier":
		return c.Param + ":" + c.Modifier
	}
	return c.Param
}

// Sort fields: what a sort key orders by (see fhir.SortKey).
const (
	sortText = "t"
	sortCode = "c"
	sortLow  = "lo"
	sortHigh = "hi"
)

// sortField names the entry field k orders by, "" when it cannot be
// sorted by (composite and special parameters).
func sortField(k fhir.SortKey) string {
	switch k.Type {
	case fhir.TypeString:
		return sortText
	case fhir.TypeToken, fhir.TypeReference, fhir.TypeURI:
		return sortCode
	case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
		if k.Desc {
			return sortHigh
		}
		return sortLow
	}
	return ""
}

// sortVal is a resource's value under one sort key: the smallest entry
// value ascending, the largest descending; ok is false without entries.
type sortVal struct {
	s  string
	f  float64
	ok bool
}

func sortValue(ix []fhir.IndexEntry, k fhir.SortKey) sortVal {
	field := sortField(k)
	var v sortVal
	for _, e := range ix {
		if e.Param != k.Param {
			continue
		}
		var c sortVal
		switch field {
		case sortText:
			c.s = e.Text
		case sortCode:
			c.s = e.Code
		case sortLow:
			c.f = e.Low
		case sortHigh:
			c.f = e.High
		}
		c.ok = true
		if !v.ok || k.Desc && compareVals(c, v) > 0 || !k.Desc && compareVals(c, v) < 0 {
			v = c
		}
	}
	return v
}

func compareVals(a, b sortVal) int {
	return cmp.Or(strings.Compare(a.s, b.s), cmp.Compare(a.f, b.f))
}

// hit is a match with its values under the query's sort keys.
type hit struct {
	res  *fhir.Resource
	vals []sortVal
}

func sortValues(ix []fhir.IndexEntry, keys []fhir.SortKey) []sortVal {
	if len(keys) == 0 {
		return nil
	}
	vals := make([]sortVal, len(keys))
	for i, k := range keys {
		vals[i] = sortValue(ix, k)
	}
	return vals
}

// compareHits orders by the sort keys (resources without a value last,
// whatever the direction), then by type and id, as the SQLite engine does.
func compareHits(keys []fhir.SortKey, a, b *hit) int {
	for i, k := range keys {
		av, bv := a.vals[i], b.vals[i]
		switch {
		case av.ok && !bv.ok:
			return -1
		case !av.ok && bv.ok:
			return 1
		case !av.ok:
			continue
		}
		c := compareVals(av, bv)
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Or(strings.Compare(a.res.Type, b.res.Type), strings.Compare(a.res.ID, b.res.ID))
}

func sortHits(keys []fhir.SortKey, hs []*hit) {
	slices.SortFunc(hs, func(a, b *hit) int { return compareHits(keys, a, b) })
}

// page applies Offset and Limit to sorted hits.
func page(hs []*hit, offset, limit int) []*hit {
	offset = max(offset, 0)
	if offset >= len(hs) {
		return nil
	}
	hs = hs[offset:]
	if limit > 0 && len(hs) > limit {
		hs = hs[:limit]
	}
	return hs
}

func resources(hs []*hit) []*fhir.Resource {
	out := make([]*fhir.Resource, len(hs))
	for i, h := range hs {
		out[i] = h.res
	}
	return out
}
