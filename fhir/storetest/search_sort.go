package storetest

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/oncofhir/oncofhir/fhir"
)

func sorted(q fhir.Query, keys ...fhir.SortKey) fhir.Query {
	q.Sort = keys
	return q
}

func paged(q fhir.Query, offset, limit int) fhir.Query {
	q.Offset, q.Limit = offset, limit
	return q
}

var sortBehaviours = []behaviour{
	{name: "Sort by string, token and date, missing values last", run: func(e *env) {
		e.createIx("Patient", "a", str("name", "baker", "Baker"), str("name", "zed", "Zed"),
			dateE("birthdate", day(1980, 1, 1)), tok("gender", "", "female", ""))
		e.createIx("Patient", "b", str("name", "adams", "Adams"), dateE("birthdate", year(1990)), tok("gender", "", "male", ""))
		e.createIx("Patient", "c", str("name", "carter", "Carter"), tok("gender", "", "female", ""))
		e.createIx("Patient", "d", dateE("birthdate", day(1975, 1, 1)), tok("gender", "", "unknown", ""))
		e.createIx("Patient", "e", str("name", "adams", "Adams"), dateE("birthdate", day(1985, 6, 15)))
		e.createIx("Observation", "a", str("name", "aaa", "Aaa"))
		all := query("Patient")
		name := fhir.SortKey{Param: "name", Type: fhir.TypeString}
		nameDesc := fhir.SortKey{Param: "name", Type: fhir.TypeString, Desc: true}
		birth := fhir.SortKey{Param: "birthdate", Type: fhir.TypeDate}
		birthDesc := fhir.SortKey{Param: "birthdate", Type: fhir.TypeDate, Desc: true}
		gender := fhir.SortKey{Param: "gender", Type: fhir.TypeToken}
		genderDesc := fhir.SortKey{Param: "gender", Type: fhir.TypeToken, Desc: true}
		e.cases(
			searchCase{"ascending by the smallest text, ties by id", sorted(all, name), ids("Patient", "b", "e", "a", "c", "d")},
			searchCase{"descending by the largest text, ties by id", sorted(all, nameDesc), ids("Patient", "a", "c", "b", "e", "d")},
			searchCase{"ascending by the start of a date", sorted(all, birth), ids("Patient", "d", "a", "e", "b", "c")},
			searchCase{"descending by the end of a date", sorted(all, birthDesc), ids("Patient", "b", "e", "a", "d", "c")},
			searchCase{"ascending by code", sorted(all, gender), ids("Patient", "a", "c", "b", "d", "e")},
			searchCase{"descending by code, ties still by id", sorted(all, genderDesc), ids("Patient", "d", "b", "a", "c", "e")},
			searchCase{"a second key orders the ties of the first", sorted(all, name, birth), ids("Patient", "e", "b", "a", "c", "d")},
			searchCase{"a second key descending", sorted(all, name, birthDesc), ids("Patient", "b", "e", "a", "c", "d")},
			searchCase{"sorted, then paged", paged(sorted(all, name), 1, 2), ids("Patient", "e", "a")},
			searchCase{"sorted with a clause", sorted(query("Patient", clause("gender", fhir.TypeToken, "", anySys("female"))), nameDesc),
				ids("Patient", "a", "c")},
			searchCase{"sorted across types: by value, then type and id", sorted(query("", clause("name", fhir.TypeString, "", val("a"))), name),
				[]string{"Observation/a", "Patient/b", "Patient/e"}},
		)
	}},

	{name: "Sort uses the entries of current versions only", run: func(e *env) {
		a1 := e.createIx("Patient", "a", str("name", "aaa", "Aaa"))
		e.updateIx(a1, str("name", "zzz", "Zzz"))
		e.createIx("Patient", "b", str("name", "mmm", "Mmm"))
		c1 := e.createIx("Patient", "c", str("name", "bbb", "Bbb"))
		e.updateIx(c1)
		name := fhir.SortKey{Param: "name", Type: fhir.TypeString}
		e.cases(searchCase{"ascending", sorted(query("Patient"), name), ids("Patient", "b", "a", "c")})
	}},

	{name: "Offset and Limit page through more than 1,000 matches exactly once each", run: func(e *env) {
		const n = 1205
		type row struct {
			id  string
			day int
		}
		var rows []row
		for start := 0; start < n; start += 250 {
			var batch []*fhir.Resource
			for i := start; i < min(start+250, n); i++ {
				id := fmt.Sprintf("o%04d", (i*7919)%n) // written out of order
				r := e.first("Observation", id)
				d := (i * 13) % 400 // about three resources a day
				r.Index = []fhir.IndexEntry{dateE("date", day(2020, 1, 1+d)), tok("code", loinc, fmt.Sprint(i%3), "")}
				batch = append(batch, r)
				rows = append(rows, row{id, d})
			}
			e.put(batch...)
		}
		e.createIx("Patient", "p", dateE("date", day(2020, 1, 1)))
		// Newest first, ties by id.
		slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(b.day, a.day), cmp.Compare(a.id, b.id)) })
		want := make([]string, len(rows))
		for i, r := range rows {
			want[i] = "Observation/" + r.id
		}
		q := sorted(query("Observation"), fhir.SortKey{Param: "date", Type: fhir.TypeDate, Desc: true})
		var got []string
		for offset := 0; ; offset += 100 {
			page := e.search(paged(q, offset, 100))
			got = append(got, keys(page)...)
			if len(page) < 100 {
				break
			}
		}
		if !slices.Equal(got, want) {
			e.t.Errorf("pages hold %d resources, want %d in order; first difference at %d", len(got), len(want), firstDiff(got, want))
		}
		e.wantCount(q)
		if c, ok := e.s.(Counter); ok {
			if total, err := c.Count(e.ctx, paged(q, 300, 10)); err != nil || total != n {
				e.t.Errorf("Count = %d, %v; want %d whatever the page", total, err, n)
			}
		}

		// By id, with a clause: every third resource.
		q = query("Observation", clause("code", fhir.TypeToken, "", sysCode(loinc, "1")))
		seen := map[string]int{}
		var last string
		for offset := 0; ; offset += 70 {
			page := e.search(paged(q, offset, 70))
			for _, r := range page {
				seen[r.Key()]++
				if r.Key() <= last {
					e.t.Fatalf("%s after %s: not in id order", r.Key(), last)
				}
				last = r.Key()
			}
			if len(page) < 70 {
				break
			}
		}
		if len(seen) != (n+1)/3 {
			e.t.Errorf("pages by id hold %d resources, want %d", len(seen), (n+1)/3)
		}
		e.wantCount(q)
		e.wantKeys(e.search(paged(q, 5000, 10)))
		e.wantKeys(e.search(paged(q, (n+1)/3-1, 0)), last)
	}},
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
