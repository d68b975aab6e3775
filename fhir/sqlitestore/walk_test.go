package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// walkData is a store where some criteria match most resources of a type
// and others a few, and the index entries behind it, to check results
// against.
type walkData struct {
	s     *sqlitestore.Store
	index map[string][]fhir.IndexEntry // by "type/id", current resources
}

const day = 86_400_000.0

func newWalkData(t *testing.T) *walkData {
	d := &walkData{s: openTemp(t), index: map[string][]fhir.IndexEntry{}}
	t.Cleanup(func() { d.s.Close() })
	name := func(text string) fhir.IndexEntry {
		return fhir.IndexEntry{Param: "name", Kind: fhir.TypeString, Text: text, Code: strings.ToUpper(text)}
	}
	givens := []string{"anna", "bert", "carl", "dora", "emil", "fred"}
	var rs []*fhir.Resource
	add := func(typ, id string, ix ...fhir.IndexEntry) {
		rs = append(rs, &fhir.Resource{Type: typ, ID: id, Version: 1, Method: "POST", JSON: []byte(`{}`), Index: ix})
		d.index[typ+"/"+id] = ix
	}
	// 3,000 Patients: every name starts with m (3,000 entries), half with
	// "mr"; one in forty has twenty entries starting with "kx" (1,500
	// entries, 2.5 % of the Patients); one in a hundred is a "smith".
	for i := range 3000 {
		ix := []fhir.IndexEntry{name([]string{"mr.", "ms."}[i%2]), name(givens[i%len(givens)]),
			{Param: "birthdate", Kind: fhir.TypeDate, Low: float64(i) * day, High: float64(i+1) * day}}
		if i%40 == 0 {
			for k := range 20 {
				ix = append(ix, name(fmt.Sprintf("kx%02d", k)))
			}
		}
		if i%100 == 7 {
			ix = append(ix, name("smith"))
		}
		add("Patient", fmt.Sprintf("p%04d", i), ix...)
	}
	// 1,200 Practitioners with three entries starting with m each, and
	// 300 Organizations none of whose entries does.
	for i := range 1200 {
		add("Practitioner", fmt.Sprintf("r%04d", i), name("mr."), name("m"+givens[i%len(givens)]), name("m "+givens[i%len(givens)]))
	}
	for i := range 300 {
		add("Organization", fmt.Sprintf("o%04d", i), name("org"))
	}
	err := d.s.Write(context.Background(), func(tx fhir.Tx) error {
		for _, r := range rs {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A Patient whose new version has no name, and a deleted one.
	err = d.s.Write(context.Background(), func(tx fhir.Tx) error {
		if err := tx.Put(&fhir.Resource{Type: "Patient", ID: "p0003", Version: 2, Method: "PUT", JSON: []byte(`{}`)}); err != nil {
			return err
		}
		return tx.Put(&fhir.Resource{Type: "Patient", ID: "p0005", Version: 2, Method: "DELETE", Deleted: true})
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(d.index, "Patient/p0003")
	delete(d.index, "Patient/p0005")
	return d
}

// want is every id of type typ whose entries satisfy match, in id order.
func (d *walkData) want(typ string, match func([]fhir.IndexEntry) bool) []string {
	var out []string
	for k, ix := range d.index {
		if strings.HasPrefix(k, typ+"/") && match(ix) {
			out = append(out, strings.TrimPrefix(k, typ+"/"))
		}
	}
	slices.Sort(out)
	return out
}

func names(ix []fhir.IndexEntry, f func(text, code string) bool) bool {
	return slices.ContainsFunc(ix, func(e fhir.IndexEntry) bool { return e.Param == "name" && f(e.Text, e.Code) })
}

func prefixed(vs ...string) func([]fhir.IndexEntry) bool {
	return func(ix []fhir.IndexEntry) bool {
		return names(ix, func(text, _ string) bool {
			return slices.ContainsFunc(vs, func(v string) bool { return strings.HasPrefix(text, v) })
		})
	}
}

func idsOf(rs []*fhir.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestBroadSearchPages: a page of a search is exactly the matches from its
// offset, in id order, whether the store walks the type's resources for it
// (a broad criterion), sorts the matches (a narrow one) or starts the
// walk and gives it up; and every way a walk ends is taken.
func TestBroadSearchPages(t *testing.T) {
	d := newWalkData(t)
	ctx := context.Background()
	outcomes := map[string]bool{}
	sqlitestore.SetWalkHook(func(outcome string, chunks int) {
		outcomes[outcome] = true
		if outcome == "page" && chunks > 1 {
			outcomes["page after several chunks"] = true
		}
	})
	defer sqlitestore.SetWalkHook(nil)

	str := func(mod string, vs ...string) fhir.Clause {
		c := fhir.Clause{Param: "name", Type: fhir.TypeString, Modifier: mod}
		for _, v := range vs {
			c.Values = append(c.Values, fhir.Value{Code: v})
		}
		return c
	}
	born := func(prefix string, days int) fhir.Clause {
		return fhir.Clause{Param: "birthdate", Type: fhir.TypeDate,
			Values: []fhir.Value{{Prefix: prefix, Low: float64(days) * day, High: float64(days+1) * day}}}
	}
	bornFrom := func(days int) func([]fhir.IndexEntry) bool {
		return func(ix []fhir.IndexEntry) bool {
			return slices.ContainsFunc(ix, func(e fhir.IndexEntry) bool { return e.Param == "birthdate" && e.Low >= float64(days)*day })
		}
	}
	for _, c := range []struct {
		name    string
		typ     string
		clauses []fhir.Clause
		match   func([]fhir.IndexEntry) bool
		offsets []int
	}{
		{"one letter, nearly every Patient", "Patient", []fhir.Clause{str("", "m")}, prefixed("m"),
			[]int{0, 20, 40, 60, 1000, 1500, 2950, 2990, 3000, 5000}},
		{"half the Patients", "Patient", []fhir.Clause{str("", "mr")}, prefixed("mr"), []int{0, 20, 700, 1480, 1500}},
		{"a broad prefix on few Patients", "Patient", []fhir.Clause{str("", "kx")}, prefixed("kx"), []int{0, 20, 40, 60, 74, 80}},
		{"a narrow prefix", "Patient", []fhir.Clause{str("", "smi")}, prefixed("smi"), []int{0, 20}},
		{"no match", "Patient", []fhir.Clause{str("", "zz")}, prefixed("zz"), []int{0}},
		{"two prefixes", "Patient", []fhir.Clause{str("", "kx", "smith")}, prefixed("kx", "smith"), []int{0, 20, 100}},
		{"every Practitioner, three entries each", "Practitioner", []fhir.Clause{str("", "m")}, prefixed("m"),
			[]int{0, 500, 1150, 1190, 1200}},
		{"no Organization", "Organization", []fhir.Clause{str("", "m")}, prefixed("m"), []int{0}},
		{":exact", "Patient", []fhir.Clause{str("exact", "MR.")},
			func(ix []fhir.IndexEntry) bool { return names(ix, func(_, code string) bool { return code == "MR." }) }, []int{0, 40}},
		{":contains", "Patient", []fhir.Clause{str("contains", "x1")},
			func(ix []fhir.IndexEntry) bool {
				return names(ix, func(text, _ string) bool { return strings.Contains(text, "x1") })
			},
			[]int{0, 20, 60}},
		{"two clauses", "Patient", []fhir.Clause{str("", "m"), str("", "kx")}, prefixed("kx"), []int{0, 40}},
		{"a wide date range", "Patient", []fhir.Clause{born("ge", 1000)}, bornFrom(1000), []int{0, 20, 1000, 1990}},
	} {
		want := d.want(c.typ, func(ix []fhir.IndexEntry) bool {
			return c.match(ix) && (len(c.clauses) < 2 || prefixed("m")(ix))
		})
		for _, offset := range c.offsets {
			q := fhir.Query{Type: c.typ, Clauses: c.clauses, Offset: offset, Limit: 21}
			got, err := d.s.Search(ctx, q)
			if err != nil {
				t.Fatalf("%s, offset %d: %v", c.name, offset, err)
			}
			page := want[min(offset, len(want)):min(offset+21, len(want))]
			if !slices.Equal(idsOf(got), page) {
				t.Errorf("%s, offset %d: %v, want %v", c.name, offset, idsOf(got), page)
			}
		}
		if n, err := d.s.Count(ctx, fhir.Query{Type: c.typ, Clauses: c.clauses}); err != nil || n != len(want) {
			t.Errorf("%s: count %d, %v; want %d", c.name, n, err, len(want))
		}
	}
	for _, o := range []string{"few", "page", "page after several chunks", "sorted"} {
		if !outcomes[o] {
			t.Errorf("no walk ended %q", o)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	q := fhir.Query{Type: "Patient", Clauses: []fhir.Clause{str("", "m")}, Limit: 21}
	if _, err := d.s.Search(cancelled, q); !errors.Is(err, context.Canceled) {
		t.Errorf("a broad search with a cancelled context: %v", err)
	}
}

// TestBroadSearchInAUnitOfWork: Tx.Search pages a broad criterion the same
// way, on the writer's connection, and sees the unit's own writes.
func TestBroadSearchInAUnitOfWork(t *testing.T) {
	d := newWalkData(t)
	q := fhir.Query{Type: "Patient", Clauses: []fhir.Clause{{Param: "name", Type: fhir.TypeString, Values: []fhir.Value{{Code: "m"}}}},
		Offset: 20, Limit: 3}
	err := d.s.Write(context.Background(), func(tx fhir.Tx) error {
		err := tx.Put(&fhir.Resource{Type: "Patient", ID: "p0021", Version: 2, Method: "DELETE", Deleted: true})
		if err != nil {
			return err
		}
		got, err := tx.Search(q)
		if err != nil {
			return err
		}
		if want := []string{"p0023", "p0024", "p0025"}; !slices.Equal(idsOf(got), want) {
			t.Errorf("%v, want %v", idsOf(got), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
