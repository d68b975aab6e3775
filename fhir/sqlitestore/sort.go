package sqlitestore

import "github.com/oncofhir/oncofhir/fhir"

// sortKey is a compiled fhir.SortKey: the value a resource sorts by,
// its smallest entry value ascending, its largest descending, NULL
// without entries.
type sortKey struct {
	agg, col, table, param string
	desc                   bool
}

func compileSort(s fhir.SortKey) (sortKey, error) {
	tab, ok := tableFor(s.Param, s.Type)
	var col string
	switch {
	case !ok:
	case tab == tabString:
		col = "text"
	case tab == tabCode && s.Type != fhir.TypeSpecial:
		col = "code"
	case tab == tabRange && s.Desc:
		col = "high"
	case tab == tabRange:
		col = "low"
	}
	if col == "" {
		return sortKey{}, notSupported("sorting by %s parameter %s is not supported", s.Type, s.Param)
	}
	agg := "min"
	if s.Desc {
		agg = "max"
	}
	return sortKey{agg: agg, col: col, table: indexTables[tab].name, param: s.Param, desc: s.Desc}, nil
}

// value is the sort value of the resource whose type and id alias k has.
func (s sortKey) value(k string) *sqlBuf {
	return frag("(SELECT "+s.agg+"(e."+s.col+") FROM "+s.table+" e WHERE e.type = "+k+".type AND e.id = "+k+".id AND e.param = ?)",
		s.param)
}

// order is the ORDER BY term of a sort value: resources without one last.
func (s sortKey) order(expr string) string {
	if s.desc {
		return expr + " DESC NULLS LAST"
	}
	return expr + " ASC NULLS LAST"
}
