package mongostore

import (
	"cmp"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// The $elemMatch filters cannot run on FerretDB v1 (it answers them with
// an error, or wrongly), so they are tested here as pure functions: the
// BSON they build for each kind of clause, and, over many random entries
// and clauses, that a document matches a filter exactly when
// fhir/search.Match accepts its entries — the filter evaluated by
// matchDoc below, a model of MongoDB's query semantics for the operators
// the filters use. With MONGO_TEST_URI naming a MongoDB, the contract
// suite runs them for real.

func extJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(v, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClauseFilterBSON(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name string
		c    fhir.Clause
		want string
	}{
		{"token system|code: one entry holds both",
			fhir.Clause{Param: "code", Type: fhir.TypeToken, Values: []fhir.Value{{System: "http://loinc.org", Code: "718-7"}}},
			`{"idx":{"$elemMatch":{"p":"code","s":"http://loinc.org","c":"718-7"}}}`},
		{"token code of any system, and |code without one",
			fhir.Clause{Param: "code", Type: fhir.TypeToken, Values: []fhir.Value{{AnySystem: true, Code: "a"}, {Code: "b"}}},
			`{"$or":[{"idx":{"$elemMatch":{"p":"code","c":"a"}}},{"idx":{"$elemMatch":{"p":"code","s":"","c":"b"}}}]}`},
		{"token :not wants none of the values",
			fhir.Clause{Param: "code", Type: fhir.TypeToken, Modifier: "not", Values: []fhir.Value{{AnySystem: true, Code: "a"}}},
			`{"$nor":[{"idx":{"$elemMatch":{"p":"code","c":"a"}}}]}`},
		{"token :text is a prefix of the folded text",
			fhir.Clause{Param: "code", Type: fhir.TypeToken, Modifier: "text", Values: []fhir.Value{{Code: "hb a1c (x)"}}},
			`{"idx":{"$elemMatch":{"p":"code","t":{"$regularExpression":{"pattern":"^hb a1c \\(x\\)","options":""}}}}}`},
		{"token :of-type looks at the of-type entries",
			fhir.Clause{Param: "identifier", Type: fhir.TypeToken, Modifier: "of-type", Values: []fhir.Value{{System: "s", Code: "MR", Text: "1"}}},
			`{"idx":{"$elemMatch":{"p":"identifier:of-type","s":"s","c":"MR","t":"1"}}}`},
		{"string :contains",
			fhir.Clause{Param: "name", Type: fhir.TypeString, Modifier: "contains", Values: []fhir.Value{{Code: "a.b"}}},
			`{"idx":{"$elemMatch":{"p":"name","t":{"$regularExpression":{"pattern":"a\\.b","options":""}}}}}`},
		{"string :exact",
			fhir.Clause{Param: "name", Type: fhir.TypeString, Modifier: "exact", Values: []fhir.Value{{Code: "Zoë"}}},
			`{"idx":{"$elemMatch":{"p":"name","c":"Zoë"}}}`},
		{"reference as written, and a bare id of any type",
			fhir.Clause{Param: "subject", Type: fhir.TypeReference, Values: []fhir.Value{{Code: "Patient/1"}, {AnySystem: true, Code: "2"}}},
			`{"$or":[{"idx":{"$elemMatch":{"p":"subject","c":"Patient/1"}}},{"idx":{"$elemMatch":{"p":"subject","i":"2"}}}]}`},
		{"reference :identifier",
			fhir.Clause{Param: "subject", Type: fhir.TypeReference, Modifier: "identifier", Values: []fhir.Value{{System: "urn:mrn", Code: "M1"}}},
			`{"idx":{"$elemMatch":{"p":"subject:identifier","s":"urn:mrn","t":"M1"}}}`},
		{"uri :above: the code is one of the value's prefixes",
			fhir.Clause{Param: "url", Type: fhir.TypeURI, Modifier: "above", Values: []fhir.Value{{Code: "a/b"}}},
			`{"idx":{"$elemMatch":{"p":"url","c":{"$in":["","a","a/","a/b"]}}}}`},
		{"date ge: after, or within",
			fhir.Clause{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{{Prefix: "ge", Low: 10, High: 20}}},
			`{"idx":{"$elemMatch":{"p":"date","$or":[{"hi":{"$gt":20.0}},{"lo":{"$gte":10.0},"hi":{"$lte":20.0}}]}}}`},
		{"date up to +Inf",
			fhir.Clause{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{{Low: 10, High: math.Inf(1)}}},
			`{"idx":{"$elemMatch":{"p":"date","lo":{"$gte":10.0},"hi":{"$lte":{"$numberDouble":"Infinity"}}}}}`},
		{"quantity with a unit",
			fhir.Clause{Param: "value-quantity", Type: fhir.TypeQuantity, Values: []fhir.Value{{Prefix: "lt", Low: 1, High: 2, System: "u", Code: "mg"}}},
			`{"idx":{"$elemMatch":{"p":"value-quantity","c":"mg","s":"u","lo":{"$lt":1.0}}}}`},
		{"composite: parts by their own kind",
			fhir.Clause{Param: "cv", Type: fhir.TypeComposite, Values: []fhir.Value{{Parts: []fhir.Value{{AnySystem: true, Code: "x"}, {Prefix: "gt", Low: 1, High: 2}}}}},
			`{"idx":{"$elemMatch":{"p":"cv","parts":{"$size":2},"$and":[` +
				`{"$or":[{"parts.0.k":"string","parts.0.t":{"$regularExpression":{"pattern":"^x","options":""}}},{"parts.0.k":"token","parts.0.c":"x"},{"parts.0.k":"reference","parts.0.i":"x"},{"parts.0.k":"uri","parts.0.c":"x"},{"parts.0.k":"date","parts.0.lo":{"$gte":0.0},"parts.0.hi":{"$lte":0.0}},{"parts.0.k":"number","parts.0.lo":{"$gte":0.0},"parts.0.hi":{"$lte":0.0}},{"parts.0.k":"quantity","parts.0.c":"x","parts.0.lo":{"$gte":0.0},"parts.0.hi":{"$lte":0.0}}]},` +
				`{"$or":[{"parts.1.k":"string","parts.1.t":{"$regularExpression":{"pattern":"^","options":""}}},{"parts.1.k":"token","parts.1.s":""},{"parts.1.k":"reference","parts.1.c":""},{"parts.1.k":"uri","parts.1.c":""},{"parts.1.k":"date","parts.1.hi":{"$gt":2.0}},{"parts.1.k":"number","parts.1.hi":{"$gt":2.0}},{"parts.1.k":"quantity","parts.1.hi":{"$gt":2.0}}]}]}}}`},
		{"missing", fhir.Clause{Param: "date", Type: fhir.TypeDate, Missing: &yes}, `{"idx.p":{"$ne":"date"}}`},
		{"present", fhir.Clause{Param: "date", Type: fhir.TypeDate, Missing: &no}, `{"idx.p":"date"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := extJSON(t, clauseFilter(tc.c)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestClausesFilterBSON(t *testing.T) {
	q := fhir.Query{Type: "Observation", IDs: []string{"a"}, Clauses: []fhir.Clause{
		{Param: "code", Type: fhir.TypeToken, Values: []fhir.Value{{AnySystem: true, Code: "x"}}},
		{Param: "subject", Type: fhir.TypeReference, Values: []fhir.Value{{Code: "Patient/1"}}},
	}}
	want := `{"deleted":false,"type":"Observation","_id":"Observation/a","$and":[` +
		`{"idx":{"$elemMatch":{"p":"code","c":"x"}}},{"idx":{"$elemMatch":{"p":"subject","c":"Patient/1"}}}]}`
	if got := extJSON(t, clausesFilter(q)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSortPipelineBSON(t *testing.T) {
	q := fhir.Query{Type: "Patient", Sort: []fhir.SortKey{{Param: "birthdate", Type: fhir.TypeDate, Desc: true}}, Offset: 20, Limit: 10}
	got := extJSON(t, bson.D{{Key: "p", Value: sortPipeline(q, false)}})
	want := `{"p":[{"$match":{"deleted":false,"type":"Patient"}},` +
		`{"$addFields":{"s0":{"$max":{"$map":{"input":{"$filter":{"input":{"$ifNull":["$idx",[]]},"as":"e","cond":{"$eq":["$$e.p","birthdate"]}}},"as":"e","in":"$$e.hi"}}}}},` +
		`{"$addFields":{"m0":{"$eq":["$s0",null]}}},` +
		`{"$sort":{"m0":1,"s0":-1,"_id":1}},{"$skip":20},{"$limit":10},{"$project":{"s0":0,"m0":0,"idx":0}}]}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestScanFilterBSON(t *testing.T) {
	yes := true
	q := fhir.Query{Type: "Observation", Clauses: []fhir.Clause{
		{Param: "subject", Type: fhir.TypeReference, Values: []fhir.Value{{Code: "Patient/1"}, {Code: "Group/1"}}},
		{Param: "patient", Type: fhir.TypeReference, Values: []fhir.Value{{AnySystem: true, Code: "1"}}},
		{Param: "code", Type: fhir.TypeToken, Modifier: "not", Values: []fhir.Value{{AnySystem: true, Code: "x"}}},
		{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{{Prefix: "gt", Low: 1, High: 2}}},
		{Param: "status", Type: fhir.TypeToken, Values: []fhir.Value{{System: "s"}}},
		{Param: "focus", Type: fhir.TypeReference, Missing: &yes},
	}}
	want := `{"deleted":false,"type":"Observation","$and":[` +
		`{"idx.p":"subject"},{"idx.c":{"$in":["Patient/1","Group/1"]}},` +
		`{"idx.p":"patient"},{"idx.i":{"$in":["1"]}},` +
		`{"idx.p":"date"},{"idx.p":"status"}]}`
	if got := extJSON(t, scanFilter(q)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A model of MongoDB's query semantics, for the operators the filters use:
// a path reaches into arrays (an element by number, else every element),
// a condition holds when it holds for one of the values reached, $ne when
// none of them equals, $elemMatch when one element of the array matches
// the whole sub-filter.

func matchDoc(doc bson.Raw, f bson.D) bool {
	for _, e := range f {
		var ok bool
		switch e.Key {
		case "$and", "$or", "$nor":
			n := 0
			for _, sub := range e.Value.(bson.A) {
				if matchDoc(doc, sub.(bson.D)) {
					n++
				}
			}
			l := len(e.Value.(bson.A))
			ok = e.Key == "$and" && n == l || e.Key == "$or" && n > 0 || e.Key == "$nor" && n == 0
		default:
			ok = matchField(reach(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc}, strings.Split(e.Key, ".")), e.Value)
		}
		if !ok {
			return false
		}
	}
	return true
}

func reach(v bson.RawValue, path []string) []bson.RawValue {
	if len(path) == 0 {
		return []bson.RawValue{v}
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		child, err := v.Document().LookupErr(path[0])
		if err != nil {
			return nil
		}
		return reach(child, path[1:])
	case bson.TypeArray:
		vals, _ := v.Array().Values()
		if i, err := strconv.Atoi(path[0]); err == nil {
			if i < len(vals) {
				return reach(vals[i], path[1:])
			}
			return nil
		}
		var out []bson.RawValue
		for _, el := range vals {
			out = append(out, reach(el, path)...)
		}
		return out
	}
	return nil
}

func matchField(vals []bson.RawValue, cond any) bool {
	any := func(f func(bson.RawValue) bool) bool {
		for _, v := range vals {
			if f(v) {
				return true
			}
		}
		return false
	}
	switch c := cond.(type) {
	case bson.Regex:
		re := regexp.MustCompile(c.Pattern)
		return any(func(v bson.RawValue) bool { s, ok := v.StringValueOK(); return ok && re.MatchString(s) })
	case bson.D:
		for _, op := range c {
			var ok bool
			switch op.Key {
			case "$elemMatch":
				ok = any(func(v bson.RawValue) bool {
					els, _ := v.Array().Values()
					for _, el := range els {
						if el.Type == bson.TypeEmbeddedDocument && matchDoc(el.Document(), op.Value.(bson.D)) {
							return true
						}
					}
					return false
				})
			case "$ne":
				ok = !any(func(v bson.RawValue) bool { return equal(v, op.Value) })
			case "$in":
				ok = any(func(v bson.RawValue) bool {
					for _, x := range op.Value.(bson.A) {
						if equal(v, x) {
							return true
						}
					}
					return false
				})
			case "$size":
				ok = any(func(v bson.RawValue) bool {
					els, err := v.Array().Values()
					return v.Type == bson.TypeArray && err == nil && len(els) == op.Value.(int)
				})
			case "$gt", "$gte", "$lt", "$lte":
				x := op.Value.(float64)
				ok = any(func(v bson.RawValue) bool {
					f, isNum := v.DoubleOK()
					if !isNum {
						return false
					}
					c := cmp.Compare(f, x)
					return op.Key == "$gt" && c > 0 || op.Key == "$gte" && c >= 0 || op.Key == "$lt" && c < 0 || op.Key == "$lte" && c <= 0
				})
			default:
				panic("model: operator " + op.Key)
			}
			if !ok {
				return false
			}
		}
		return true
	}
	return any(func(v bson.RawValue) bool { return equal(v, cond) })
}

func equal(v bson.RawValue, x any) bool {
	switch x := x.(type) {
	case string:
		s, ok := v.StringValueOK()
		return ok && s == x
	case bool:
		b, ok := v.BooleanOK()
		return ok && b == x
	}
	panic("model: equality with " + strconv.Quote(extJSONAny(x)))
}

func extJSONAny(x any) string {
	b, _ := bson.MarshalExtJSON(bson.D{{Key: "x", Value: x}}, false, false)
	return string(b)
}

// TestClauseFiltersAgreeWithMatch builds random entries and clauses, of
// every type and modifier, and checks that a document matches the filter
// exactly when search.Match accepts its entries.
func TestClauseFiltersAgreeWithMatch(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
	bounds := []float64{math.Inf(-1), -1, 0, 0.5, 1, 2, 3, math.Inf(1)}
	span := func() (float64, float64) {
		a, b := bounds[rnd.IntN(len(bounds))], bounds[rnd.IntN(len(bounds))]
		return min(a, b), max(a, b)
	}
	types := []fhir.ParamType{fhir.TypeString, fhir.TypeToken, fhir.TypeReference, fhir.TypeURI,
		fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity, fhir.TypeComposite}
	code := func() string { return pick("", "a", "ab", "b", "Patient/1", "Group/1", "http://x/Patient/1", "1") }
	var entryOf func(typ fhir.ParamType, param string) fhir.IndexEntry
	entryOf = func(typ fhir.ParamType, param string) fhir.IndexEntry {
		e := fhir.IndexEntry{Param: param, Kind: typ}
		switch typ {
		case fhir.TypeString:
			e.Text, e.Code = pick("", "a", "ab", "abc", "b", "a.b"), pick("A", "Ab", "ab")
		case fhir.TypeToken, fhir.TypeURI:
			e.System, e.Code, e.Text = pick("", "x", "y"), code(), pick("", "ab", "b")
		case fhir.TypeReference:
			e.Code = code()
			if typ, _, ok := strings.Cut(e.Code, "/"); ok && !strings.Contains(e.Code, ":") {
				e.System = typ
			}
		case fhir.TypeDate, fhir.TypeNumber:
			e.Low, e.High = span()
		case fhir.TypeQuantity:
			e.Low, e.High = span()
			e.System, e.Code = pick("", "u"), pick("", "mg", "kg")
		case fhir.TypeComposite:
			for range 1 + rnd.IntN(2) {
				e.Parts = append(e.Parts, entryOf([]fhir.ParamType{fhir.TypeToken, fhir.TypeQuantity, fhir.TypeString,
					fhir.TypeReference, fhir.TypeDate}[rnd.IntN(5)], ""))
			}
		}
		return e
	}
	var valueOf func(typ fhir.ParamType, mod string) fhir.Value
	valueOf = func(typ fhir.ParamType, mod string) fhir.Value {
		v := fhir.Value{Code: code()}
		switch typ {
		case fhir.TypeString:
			v.Code = pick("", "a", "ab", "b", "a.b", "A")
		case fhir.TypeToken, fhir.TypeReference:
			v.AnySystem, v.System = rnd.IntN(2) == 0, pick("", "x", "y", "urn:mrn")
			if mod == "of-type" {
				v.AnySystem, v.Text = false, pick("", "ab", "1")
			}
		case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
			v.Prefix = pick("", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
			v.Low, v.High = span()
			if v.Prefix == "ap" {
				v.Approx = float64(rnd.IntN(2))
			}
			v.System, v.Code = pick("", "u"), pick("", "mg")
		case fhir.TypeComposite:
			v.Code = ""
			for range 1 + rnd.IntN(2) {
				p := valueOf([]fhir.ParamType{fhir.TypeToken, fhir.TypeQuantity}[rnd.IntN(2)], "")
				v.Parts = append(v.Parts, p)
			}
		}
		return v
	}
	runs, matched := 0, 0
	for range 20000 {
		typ := types[rnd.IntN(len(types))]
		mods := modifiers[typ]
		c := fhir.Clause{Param: "p", Type: typ, Modifier: mods[rnd.IntN(len(mods))]}
		if rnd.IntN(10) == 0 {
			m := rnd.IntN(2) == 0
			c.Missing, c.Modifier = &m, ""
		} else {
			for range 1 + rnd.IntN(2) {
				c.Values = append(c.Values, valueOf(typ, c.Modifier))
			}
		}
		var ix []fhir.IndexEntry
		for range rnd.IntN(4) {
			param := pick("p", "p", "q")
			e := entryOf(typ, param)
			switch {
			case typ == fhir.TypeToken && rnd.IntN(3) == 0:
				e.Param, e.Kind = param+ofTypeSuffix, fhir.TypeToken
				e.System, e.Code, e.Text = pick("x", "y"), pick("MR", "a"), pick("", "ab", "1")
			case typ == fhir.TypeReference && rnd.IntN(3) == 0:
				e = fhir.IndexEntry{Param: param + identifierSuffix, Kind: fhir.TypeReference, System: pick("", "urn:mrn"), Text: code()}
			}
			ix = append(ix, e)
		}
		q := fhir.Query{Type: "Observation", Clauses: []fhir.Clause{c}}
		if checkQuery(q) != nil {
			continue
		}
		r := &fhir.Resource{Type: "Observation", ID: "o", Version: 1, Index: ix}
		doc, err := bson.Marshal(newCurrent(r, "", "", false))
		if err != nil {
			t.Fatal(err)
		}
		want := search.Match(ix, q)
		if got := matchDoc(doc, clausesFilter(q)); got != want {
			t.Fatalf("filter %s\non entries %+v\nmatches %v, Match says %v", extJSON(t, clausesFilter(q)), ix, got, want)
		}
		runs++
		if want {
			matched++
		}
	}
	t.Logf("%d cases, %d matching", runs, matched)
	if runs < 15000 || matched < runs/10 || matched > runs*9/10 {
		t.Errorf("%d cases, %d matching: the generator is off", runs, matched)
	}
}
