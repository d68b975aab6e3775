package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

func one(param string, typ fhir.ParamType, mod string, vs ...fhir.Value) fhir.Clause {
	return fhir.Clause{Param: param, Type: typ, Modifier: mod, Values: vs}
}

// TestHotSearchesSeekTheirKeys: each search is driven by a seek in the
// key made for it, and no search reads a whole table.
func TestHotSearchesSeekTheirKeys(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	obs := func(cs ...fhir.Clause) fhir.Query { return fhir.Query{Type: "Observation", Clauses: cs, Limit: 20} }
	date := func(prefix string, lo, hi float64) fhir.Clause {
		return one("date", fhir.TypeDate, "", fhir.Value{Prefix: prefix, Low: lo, High: hi})
	}
	for _, c := range []struct {
		name string
		q    fhir.Query
		want string
	}{
		{"a patient's results for a code",
			obs(one("patient", fhir.TypeReference, "", fhir.Value{Code: "Patient/1"}),
				one("code", fhir.TypeToken, "", fhir.Value{System: "http://loinc.org", Code: "718-7"})),
			"SEARCH e USING PRIMARY KEY (param=? AND code=? AND type=?)"},
		{"a string prefix", obs(one("name", fhir.TypeString, "", fhir.Value{Code: "smi"})),
			"SEARCH e USING PRIMARY KEY (param=? AND text>? AND text<?)"},
		{"a date window", obs(date("ge", 1, 2), date("lt", 3, 4)),
			"SEARCH e USING PRIMARY KEY (param=? AND span=? AND low>? AND low<?)"},
		{"a date", obs(date("", 1, 2)), "SEARCH e USING PRIMARY KEY (param=? AND span=? AND low>? AND low<?)"},
		{"a date and a patient", obs(date("gt", 1, 2), one("patient", fhir.TypeReference, "", fhir.Value{Code: "Patient/1"})),
			"SEARCH e USING PRIMARY KEY (param=? AND code=? AND type=?)"},
		{"token :text", obs(one("code", fhir.TypeToken, "text", fhir.Value{Code: "hemo"})),
			"SEARCH e USING COVERING INDEX ix_code_text (param=? AND text>? AND text<?)"},
		{"reference :identifier", obs(one("subject", fhir.TypeReference, "identifier", fhir.Value{System: "urn:mrn", Code: "1"})),
			"SEARCH e USING COVERING INDEX ix_code_text (param=? AND text=?)"},
		{"string :exact", obs(one("name", fhir.TypeString, "exact", fhir.Value{Code: "Smith"})),
			"SEARCH e USING COVERING INDEX ix_string_exact (param=? AND code=?)"},
		{"uri :above", obs(one("url", fhir.TypeURI, "above", fhir.Value{Code: "http://a.org/b/c"})),
			"SEARCH e USING PRIMARY KEY (param=? AND code=?)"},
		{"uri :below", obs(one("url", fhir.TypeURI, "below", fhir.Value{Code: "http://a.org/b"})),
			"SEARCH e USING PRIMARY KEY (param=? AND code>? AND code<?)"},
		{"a composite", obs(one("code-value-quantity", fhir.TypeComposite, "",
			fhir.Value{Parts: []fhir.Value{{AnySystem: true, Code: "8480-6"}, {Prefix: "gt", Low: 99.5, High: 100.5}}})),
			"SEARCH e USING PRIMARY KEY (param=? AND pos=? AND type=?)"},
		{"an identifier token", fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "identifier", Code: "1"}}},
			"SEARCH e USING PRIMARY KEY (param=? AND code=? AND type=?)"},
		{"sorted by date", fhir.Query{Type: "Observation", Clauses: []fhir.Clause{date("ge", 1, 2)},
			Sort: []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}}},
			"SEARCH e USING COVERING INDEX ix_range_owner (type=? AND id=? AND param=?)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, err := sqlitestore.QueryPlan(s, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan, c.want+"\n") {
				t.Errorf("plan lacks %q:\n%s", c.want, plan)
			}
			for _, line := range strings.Split(plan, "\n") {
				if strings.HasPrefix(line, "SCAN ") && !slices.Contains([]string{"d", "k", "spans", "CONSTANT ROW"}, line[5:]) &&
					!strings.HasPrefix(line, "SCAN json_each") && !strings.HasPrefix(line, "SCAN (subquery") {
					t.Errorf("plan reads a whole table (%s):\n%s", line, plan)
				}
			}
		})
	}
}

// TestBroadSearchWalksTheKeys: the statements that walk a broad search
// (see walk) step through the type's ids in the resource key, test each
// resource with one seek in the owner index, and sort nothing.
func TestBroadSearchWalksTheKeys(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	name := func(vs ...string) fhir.Query {
		c := one("name", fhir.TypeString, "")
		for _, v := range vs {
			c.Values = append(c.Values, fhir.Value{Code: v})
		}
		return fhir.Query{Type: "Patient", Clauses: []fhir.Clause{c}, Limit: 21}
	}
	date := fhir.Query{Type: "Observation", Limit: 21,
		Clauses: []fhir.Clause{one("date", fhir.TypeDate, "", fhir.Value{Prefix: "ge", Low: 1, High: 2})}}
	for _, c := range []struct {
		name string
		q    fhir.Query
		want []string
	}{
		{"a string prefix", name("m"), []string{
			"SEARCH resource USING COVERING INDEX sqlite_autoindex_resource_1 (type=? AND id>?)",
			"SEARCH r USING COVERING INDEX sqlite_autoindex_resource_1 (type=? AND id>?)",
			"SEARCH r USING COVERING INDEX sqlite_autoindex_resource_1 (type=? AND id>? AND id<?)",
			"SEARCH e EXISTS USING COVERING INDEX ix_string_owner (type=? AND id=? AND param=? AND text>? AND text<?)",
			"SEARCH r USING INDEX sqlite_autoindex_resource_1 (type=? AND id=?)"}},
		{"two prefixes", name("m", "k"), []string{
			"SEARCH e EXISTS USING COVERING INDEX ix_string_owner (type=? AND id=? AND param=?)"}},
		{"a date range", date, []string{
			"SEARCH r USING COVERING INDEX sqlite_autoindex_resource_1 (type=? AND id>? AND id<?)",
			"SEARCH e EXISTS USING COVERING INDEX ix_range_owner (type=? AND id=? AND param=?)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, err := sqlitestore.WalkPlan(s, c.q)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(plan, w+"\n") {
					t.Errorf("plan lacks %q:\n%s", w, plan)
				}
			}
			for _, line := range strings.Split(plan, "\n") {
				if strings.Contains(line, "TEMP B-TREE") || strings.HasPrefix(line, "SCAN ") && !strings.HasPrefix(line, "SCAN json_each") {
					t.Errorf("plan sorts or reads a whole table (%s):\n%s", line, plan)
				}
			}
		})
	}
}

// TestRangesOfUnknownWidth: entries whose width is negative or not a
// number are kept apart from the others (span -1) and still matched by the
// rules.
func TestRangesOfUnknownWidth(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	inf := math.Inf(1)
	for id, r := range map[string][2]float64{"a": {10, 5}, "b": {inf, inf}, "c": {1, 2}, "d": {-inf, -inf}} {
		put(context.Background(), s, &fhir.Resource{Type: "RiskAssessment", ID: id, Version: 1, Method: "POST", JSON: []byte(`{}`),
			Index: []fhir.IndexEntry{{Param: "p", Kind: fhir.TypeNumber, Low: r[0], High: r[1]}}})
	}
	v := func(prefix string, lo, hi float64) fhir.Clause {
		return one("p", fhir.TypeNumber, "", fhir.Value{Prefix: prefix, Low: lo, High: hi})
	}
	for _, c := range []struct {
		name    string
		clauses []fhir.Clause
		want    string
	}{
		{"eq", []fhir.Clause{v("eq", 0, 20)}, "a c"},
		{"gt", []fhir.Clause{v("gt", 0, 4)}, "a b"},
		{"lt", []fhir.Clause{v("lt", 3, 4)}, "c d"},
		{"sa", []fhir.Clause{v("sa", 4, 6)}, "a b"},
		{"eb", []fhir.Clause{v("eb", 7, 8)}, "a c d"},
		{"a window", []fhir.Clause{v("ge", 0, 1), v("le", 30, 31)}, "a c"},
	} {
		got, err := s.Search(context.Background(), fhir.Query{Type: "RiskAssessment", Clauses: c.clauses})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if strings.Join(ids, " ") != c.want {
			t.Errorf("%s: %v, want %s", c.name, ids, c.want)
		}
	}
}

// TestSearchFollowsItsContext: a search whose context has ended fails with
// the context's error, also when it ends while the query runs.
func TestSearchFollowsItsContext(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	const n = 20_000
	err := s.Write(context.Background(), func(tx fhir.Tx) error {
		for i := range n {
			id := fmt.Sprintf("p%d", i)
			r := &fhir.Resource{Type: "Patient", ID: id, Version: 1, Method: "POST", JSON: []byte(`{}`),
				Index: []fhir.IndexEntry{{Param: "name", Kind: fhir.TypeString, Text: "name number " + id}}}
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// :contains cannot use an index: every Patient is read.
	q := fhir.Query{Type: "Patient", Clauses: []fhir.Clause{one("name", fhir.TypeString, "contains", fhir.Value{Code: "zz"})},
		Sort: []fhir.SortKey{{Param: "name", Type: fhir.TypeString}}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Search(ctx, q); !errors.Is(err, context.Canceled) {
		t.Errorf("Search with a cancelled context: %v", err)
	}
	if _, err := s.Count(ctx, q); !errors.Is(err, context.Canceled) {
		t.Errorf("Count with a cancelled context: %v", err)
	}

	// The deadline is an eighth of the fastest of three runs: one run
	// slowed down by a busy machine would set a deadline that the next,
	// unhindered run ends well within.
	took := time.Duration(math.MaxInt64)
	for range 3 {
		start := time.Now()
		if _, err := s.Search(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		took = min(took, time.Since(start))
	}
	if took < 5*time.Millisecond {
		t.Skipf("the search takes %s here: too little to end it midway", took)
	}
	ctx, cancel = context.WithTimeout(context.Background(), took/8)
	defer cancel()
	if _, err := s.Search(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Search past its deadline: %v", err)
	}
}

func TestOlderSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitestore.SetUserVersion(s, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlitestore.Open(dir)
	if err == nil {
		s.Close()
		t.Fatal("a version 2 file was opened")
	}
	if !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "search index") {
		t.Errorf("error does not say why: %v", err)
	}
}

func TestBadIndexEntriesAreRefused(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for name, e := range map[string]fhir.IndexEntry{
		"NaN bound":      {Param: "p", Kind: fhir.TypeNumber, Low: math.NaN(), High: 1},
		"no kind":        {Param: "p", Code: "x"},
		"no param":       {Kind: fhir.TypeToken, Code: "x"},
		"nested":         {Param: "p", Kind: fhir.TypeComposite, Parts: []fhir.IndexEntry{{Kind: fhir.TypeComposite}}},
		"NaN in a part":  {Param: "p", Kind: fhir.TypeComposite, Parts: []fhir.IndexEntry{{Kind: fhir.TypeDate, High: math.NaN()}}},
		"unknown kind":   {Param: "p", Kind: "fuzzy", Code: "x"},
		"part sans kind": {Param: "p", Kind: fhir.TypeComposite, Parts: []fhir.IndexEntry{{Code: "x"}}},
	} {
		r := &fhir.Resource{Type: "Patient", ID: "a", Version: 1, Method: "POST", JSON: []byte(`{}`), LastUpdated: storetest.Epoch,
			Index: []fhir.IndexEntry{{Param: "ok", Kind: fhir.TypeToken, Code: "1"}, e}}
		if err := put(context.Background(), s, r); err == nil {
			t.Errorf("%s: stored", name)
		}
		if _, err := s.Read(context.Background(), "Patient", "a"); !errors.Is(err, fhir.ErrNotFound) {
			t.Fatalf("%s: Read after the refused Put: %v", name, err)
		}
	}
}
