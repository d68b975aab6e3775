package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// The search benchmarks run on 100 000 Observations (1 000 Patients × 100
// lab results over eight years) or 100 000 Patients, with the index entries
// the extractor gives such resources: 14 entries an Observation (two of
// them composite), 12 a Patient. A store is loaded once, its
// sub-benchmarks share it.

const (
	loincSystem = "http://loinc.org"
	ucumSystem  = "http://unitsofmeasure.org"
)

var labs = []struct{ code, display, unit string }{
	{"718-7", "hemoglobin [mass/volume] in blood", "g/dL"},
	{"4548-4", "hemoglobin a1c/hemoglobin.total in blood", "%"},
	{"2345-7", "glucose [mass/volume] in serum or plasma", "mg/dL"},
	{"2160-0", "creatinine [mass/volume] in serum or plasma", "mg/dL"},
	{"6690-2", "leukocytes [#/volume] in blood", "10*3/uL"},
	{"777-3", "platelets [#/volume] in blood", "10*3/uL"},
	{"789-8", "erythrocytes [#/volume] in blood", "10*6/uL"},
	{"1751-7", "albumin [mass/volume] in serum or plasma", "g/dL"},
	{"2951-2", "sodium [moles/volume] in serum or plasma", "mmol/L"},
	{"2823-3", "potassium [moles/volume] in serum or plasma", "mmol/L"},
}

var (
	benchStart = time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
	benchEnd   = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

func msOf(t time.Time) float64 { return float64(t.UnixMilli()) }

func tokenE(param, system, code, text string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeToken, System: system, Code: code, Text: text}
}

func refE(param, typ, id string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeReference, System: typ, Code: typ + "/" + id}
}

func rangeE(param string, kind fhir.ParamType, lo, hi float64, system, code string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: kind, Low: lo, High: hi, System: system, Code: code}
}

func labObservation(id, patient string, lab int, at time.Time, value float64, lastUpdated time.Time) *fhir.Resource {
	l := labs[lab]
	value = math.Round(value*10) / 10 // written with one decimal
	when := at.Format(time.RFC3339)
	js := fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"meta":{"versionId":"1","lastUpdated":%q},"status":"final",`+
		`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],`+
		`"code":{"coding":[{"system":"http://loinc.org","code":%q,"display":%q}]},"subject":{"reference":"Patient/%s"},`+
		`"encounter":{"reference":"Encounter/e-%s"},"effectiveDateTime":%q,"issued":%q,`+
		`"valueQuantity":{"value":%.1f,"unit":%q,"system":"http://unitsofmeasure.org","code":%q}}`,
		id, lastUpdated.Format(fhir.InstantFormat), l.code, l.display, patient, id, when, when, value, l.unit, l.unit)
	t := msOf(at)
	lu := msOf(lastUpdated)
	code := tokenE("code", loincSystem, l.code, l.display)
	qty := rangeE("value-quantity", fhir.TypeQuantity, value-0.05, value+0.05, ucumSystem, l.unit)
	combo := qty
	combo.Param = "combo-value-quantity"
	return &fhir.Resource{Type: "Observation", ID: id, Version: 1, Method: "POST", LastUpdated: lastUpdated, JSON: js,
		Index: []fhir.IndexEntry{
			tokenE("_id", "", id, ""),
			rangeE("_lastUpdated", fhir.TypeDate, lu, lu+1, "", ""),
			tokenE("status", "", "final", ""),
			tokenE("category", "http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "laboratory"),
			code,
			tokenE("combo-code", loincSystem, l.code, l.display),
			refE("subject", "Patient", patient),
			refE("patient", "Patient", patient),
			refE("encounter", "Encounter", "e-"+id),
			rangeE("date", fhir.TypeDate, t, t+1000, "", ""),
			qty,
			combo,
			{Param: "code-value-quantity", Kind: fhir.TypeComposite, Parts: []fhir.IndexEntry{code, qty}},
			{Param: "combo-code-value-quantity", Kind: fhir.TypeComposite, Parts: []fhir.IndexEntry{code, combo}},
		}}
}

var (
	families = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
		"hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
		"lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson",
		"walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores",
		"green", "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts",
		"müller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "schulz", "hoffmann",
		"dubois", "moreau", "laurent", "simon", "michel", "lefebvre", "leroy", "roux", "fournier", "girard",
		"rossi", "russo", "ferrari", "esposito", "bianchi", "romano", "colombo", "ricci", "marino", "greco"}
	givens = []string{"james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth",
		"david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen",
		"anna", "lukas", "emma", "noah", "sofia", "leon", "mia", "elias", "hannah", "paul"}
	cities = []string{"springfield", "riverside", "fairview", "franklin", "greenville", "bristol", "clinton", "madison",
		"georgetown", "salem", "arlington", "ashland", "dover", "oxford", "jackson", "burlington"}
)

func patientResource(id string, rnd *rand.Rand, lastUpdated time.Time) *fhir.Resource {
	family, given := families[rnd.IntN(len(families))], givens[rnd.IntN(len(givens))]
	city := cities[rnd.IntN(len(cities))]
	birth := time.Date(1930+rnd.IntN(80), time.Month(1+rnd.IntN(12)), 1+rnd.IntN(28), 0, 0, 0, 0, time.UTC)
	gender := [...]string{"female", "male"}[rnd.IntN(2)]
	mrn := "MRN-" + id
	js := fmt.Appendf(nil, `{"resourceType":"Patient","id":%q,"meta":{"versionId":"1","lastUpdated":%q},`+
		`"identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"system":"urn:mrn","value":%q}],`+
		`"name":[{"family":%q,"given":[%q]}],"gender":%q,"birthDate":%q,"address":[{"city":%q}]}`,
		id, lastUpdated.Format(fhir.InstantFormat), mrn, family, given, gender, birth.Format(time.DateOnly), city)
	str := func(param, folded string) fhir.IndexEntry {
		return fhir.IndexEntry{Param: param, Kind: fhir.TypeString, Text: folded, Code: folded}
	}
	lu := msOf(lastUpdated)
	return &fhir.Resource{Type: "Patient", ID: id, Version: 1, Method: "POST", LastUpdated: lastUpdated, JSON: js,
		Tokens: []fhir.Token{{Param: "identifier", System: "urn:mrn", Code: mrn}},
		Index: []fhir.IndexEntry{
			tokenE("_id", "", id, ""),
			rangeE("_lastUpdated", fhir.TypeDate, lu, lu+1, "", ""),
			tokenE("identifier", "urn:mrn", mrn, ""),
			{Param: "identifier:of-type", Kind: fhir.TypeToken, System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR", Text: mrn},
			str("name", family), str("name", given), str("name", given+" "+family),
			str("family", family), str("given", given),
			tokenE("gender", "", gender, ""),
			rangeE("birthdate", fhir.TypeDate, msOf(birth), msOf(birth.AddDate(0, 0, 1)), "", ""),
			str("address-city", city),
		}}
}

// loadStore writes the resources next(0) … next(n-1) into s, 1 000 to a
// unit of work.
func loadStore(tb testing.TB, s *sqlitestore.Store, n int, next func(i int) *fhir.Resource) {
	tb.Helper()
	start := time.Now()
	for first := 0; first < n; first += 1000 {
		err := s.Write(context.Background(), func(tx fhir.Tx) error {
			for i := first; i < min(first+1000, n); i++ {
				if err := tx.Put(next(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("loaded %d resources in %s", n, time.Since(start).Round(time.Millisecond))
}

// observations is the store of observationStore, loaded once for every
// benchmark that reads it (it takes about 20 s on two shared cores), in a
// directory TestMain removes.
var observations struct {
	once sync.Once
	dir  string
	s    *sqlitestore.Store
	err  error
}

// observationStore: 1 000 Patients, each with 100 lab Observations spread
// over 2017–2024, every lab code ten times.
func observationStore(b *testing.B) *sqlitestore.Store {
	observations.once.Do(func() {
		if observations.dir, observations.err = os.MkdirTemp("", "sqlitestore-bench"); observations.err != nil {
			return
		}
		if observations.s, observations.err = sqlitestore.Open(observations.dir); observations.err != nil {
			return
		}
		observations.err = errors.New("the observations were not loaded") // until they are
		rnd := rand.New(rand.NewPCG(1, 2))
		lu := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		span := benchEnd.Sub(benchStart)
		defer func() {
			if !b.Failed() {
				observations.err = nil
			}
		}()
		loadStore(b, observations.s, 101_000, func(i int) *fhir.Resource {
			if i < 1000 {
				return patientResource(fmt.Sprintf("p%d", i), rnd, lu)
			}
			i -= 1000
			p, k := i/100, i%100
			at := benchStart.Add(time.Duration(rnd.Int64N(int64(span)))).Truncate(time.Second)
			return labObservation(fmt.Sprintf("o%d-%d", p, k), fmt.Sprintf("p%d", p), k%len(labs), at, 1+rnd.Float64()*100, lu)
		})
	})
	if observations.err != nil {
		b.Fatal(observations.err)
	}
	return observations.s
}

func closeObservations() {
	if observations.s != nil {
		observations.s.Close()
	}
	if observations.dir != "" {
		os.RemoveAll(observations.dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	closeObservations()
	closeSynthStores()
	os.Exit(code)
}

func benchSearch(b *testing.B, s *sqlitestore.Store, want func(n int) bool, q func(i int) fhir.Query) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		got, err := s.Search(ctx, q(i))
		if err != nil || !want(len(got)) {
			b.Fatalf("%d results, %v", len(got), err)
		}
	}
}

func benchCount(b *testing.B, s *sqlitestore.Store, want func(n int) bool, q func(i int) fhir.Query) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n, err := s.Count(ctx, q(i))
		if err != nil || !want(n) {
			b.Fatalf("count %d, %v", n, err)
		}
	}
}

func atLeast(m int) func(int) bool { return func(n int) bool { return n >= m } }

func exactly(m int) func(int) bool { return func(n int) bool { return n == m } }

// BenchmarkSearchPatientCode: Observation?patient=Patient/X&code=
// http://loinc.org|718-7, ten of a patient's hundred results.
func BenchmarkSearchPatientCode(b *testing.B) {
	s := observationStore(b)
	q := func(i int) fhir.Query {
		return fhir.Query{Type: "Observation", Limit: 50, Clauses: []fhir.Clause{
			{Param: "patient", Type: fhir.TypeReference, Values: []fhir.Value{{System: "Patient", Code: fmt.Sprintf("Patient/p%d", (i*7919)%1000)}}},
			{Param: "code", Type: fhir.TypeToken, Values: []fhir.Value{{System: loincSystem, Code: "718-7"}}},
		}}
	}
	b.Run("serial", func(b *testing.B) { benchSearch(b, s, exactly(10), q) })
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(1000)
			for pb.Next() {
				i++
				if got, err := s.Search(context.Background(), q(i)); err != nil || len(got) != 10 {
					b.Errorf("%d results, %v", len(got), err)
					return
				}
			}
		})
	})
	b.Run("sorted by date", func(b *testing.B) {
		benchSearch(b, s, exactly(10), func(i int) fhir.Query {
			qq := q(i)
			qq.Sort = []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}}
			return qq
		})
	})
	b.Run("count", func(b *testing.B) { benchCount(b, s, exactly(10), q) })
}

// BenchmarkSearchStringPrefix: Patient?name=<3 letters> among 100 000
// Patients (80 family and 30 given names), a first page of 20 and the
// count of about 1 250 to 6 000 matches; and a full family name.
func BenchmarkSearchStringPrefix(b *testing.B) {
	rnd := rand.New(rand.NewPCG(3, 4))
	lu := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openTemp(b)
	b.Cleanup(func() { s.Close() })
	loadStore(b, s, 100_000, func(i int) *fhir.Resource { return patientResource(fmt.Sprintf("p%d", i), rnd, lu) })
	prefixQ := func(i int) fhir.Query {
		f := families[(i*31)%len(families)]
		return fhir.Query{Type: "Patient", Limit: 20, Clauses: []fhir.Clause{
			{Param: "name", Type: fhir.TypeString, Values: []fhir.Value{{Code: string([]rune(f)[:3])}}},
		}}
	}
	b.Run("page of 20", func(b *testing.B) { benchSearch(b, s, exactly(20), prefixQ) })
	b.Run("count", func(b *testing.B) { benchCount(b, s, atLeast(1000), prefixQ) })
	b.Run("family and given, page of 20", func(b *testing.B) {
		benchSearch(b, s, atLeast(1), func(i int) fhir.Query {
			return fhir.Query{Type: "Patient", Limit: 20, Clauses: []fhir.Clause{
				{Param: "family", Type: fhir.TypeString, Values: []fhir.Value{{Code: families[(i*31)%len(families)]}}},
				{Param: "given", Type: fhir.TypeString, Values: []fhir.Value{{Code: givens[(i*7)%len(givens)][:2]}}},
			}}
		})
	})
	b.Run(":contains, page of 20", func(b *testing.B) {
		benchSearch(b, s, exactly(20), func(i int) fhir.Query {
			return fhir.Query{Type: "Patient", Limit: 20, Clauses: []fhir.Clause{
				{Param: "name", Type: fhir.TypeString, Modifier: "contains", Values: []fhir.Value{{Code: "son"}}},
			}}
		})
	})
}

// BenchmarkSearchDateRange: Observation?date=ge<day>&date=lt<day+1 month>
// among 100 000 Observations over eight years (about 1 050 matches), a
// page of 20 newest first and the count; a patient's results of one year.
func BenchmarkSearchDateRange(b *testing.B) {
	s := observationStore(b)
	day := func(t time.Time) fhir.Value {
		return fhir.Value{Low: msOf(t), High: msOf(t.AddDate(0, 0, 1))}
	}
	window := func(i int, months int) []fhir.Clause {
		from := benchStart.AddDate(0, (i*13)%(96-months), 0)
		ge, lt := day(from), day(from.AddDate(0, months, 0))
		ge.Prefix, lt.Prefix = "ge", "lt"
		return []fhir.Clause{
			{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{ge}},
			{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{lt}},
		}
	}
	newest := []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}}
	b.Run("one month, page of 20", func(b *testing.B) {
		benchSearch(b, s, exactly(20), func(i int) fhir.Query {
			return fhir.Query{Type: "Observation", Limit: 20, Clauses: window(i, 1)}
		})
	})
	b.Run("one month, newest first, page of 20", func(b *testing.B) {
		benchSearch(b, s, exactly(20), func(i int) fhir.Query {
			return fhir.Query{Type: "Observation", Limit: 20, Clauses: window(i, 1), Sort: newest}
		})
	})
	b.Run("one month, count", func(b *testing.B) {
		benchCount(b, s, atLeast(800), func(i int) fhir.Query { return fhir.Query{Type: "Observation", Clauses: window(i, 1)} })
	})
	b.Run("one day, eq", func(b *testing.B) {
		benchSearch(b, s, atLeast(0), func(i int) fhir.Query {
			return fhir.Query{Type: "Observation", Limit: 50, Clauses: []fhir.Clause{
				{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{day(benchStart.AddDate(0, 0, (i*37)%2900))}}}}
		})
	})
	b.Run("a patient's year, newest first", func(b *testing.B) {
		benchSearch(b, s, atLeast(1), func(i int) fhir.Query {
			cs := append(window(i, 12), fhir.Clause{Param: "patient", Type: fhir.TypeReference,
				Values: []fhir.Value{{System: "Patient", Code: fmt.Sprintf("Patient/p%d", (i*7919)%1000)}}})
			return fhir.Query{Type: "Observation", Limit: 50, Clauses: cs, Sort: newest}
		})
	})
}
