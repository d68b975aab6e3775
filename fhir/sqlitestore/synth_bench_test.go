package sqlitestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
	"github.com/oncofhir/oncofhir/fhir/searchparam"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/fhir/synth"
)

// The synth benchmarks search stores loaded with generated patients
// (fhir/synth, about 100 resources each), indexed by the real extractor
// and with references rewritten the way a transaction does. Ids grow in
// the order resources are written, as the server's UUIDv7 ids do.
//
// Loading 10 000 patients (about a million resources) takes minutes: set
// SQLITESTORE_BENCH_DIR to keep the loaded stores there and reuse them in
// later runs.

// synthData is one loaded store and what its searches ask for.
type synthData struct {
	s        *sqlitestore.Store
	dir      string
	temp     bool   // dir is removed at the end
	common   string // the first three letters of the most frequent family name
	rare     string // one patient's whole family name
	patients int
	err      error
}

var synthStores struct {
	sync.Mutex
	m map[int]*synthData
}

// synthStore returns the store of n generated patients, loading it on
// first use.
func synthStore(b *testing.B, patients int) *synthData {
	synthStores.Lock()
	defer synthStores.Unlock()
	if d := synthStores.m[patients]; d != nil {
		if d.err != nil {
			b.Fatal(d.err)
		}
		return d
	}
	if synthStores.m == nil {
		synthStores.m = map[int]*synthData{}
	}
	d := &synthData{patients: patients}
	synthStores.m[patients] = d
	d.err = d.open(b)
	if d.err != nil {
		b.Fatal(d.err)
	}
	return d
}

func (d *synthData) open(b *testing.B) error {
	keep := os.Getenv("SQLITESTORE_BENCH_DIR")
	var err error
	if keep != "" {
		d.dir = filepath.Join(keep, fmt.Sprintf("synth-%d", d.patients))
	} else if d.dir, err = os.MkdirTemp("", "sqlitestore-synth"); err != nil {
		return err
	}
	d.temp = keep == ""
	names := filepath.Join(d.dir, "names.json") // written once the load is complete
	if raw, err := os.ReadFile(names); err == nil {
		var v struct{ Common, Rare string }
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		d.common, d.rare = v.Common, v.Rare
		d.s, err = sqlitestore.Open(d.dir)
		return err
	}
	os.RemoveAll(d.dir) // an incomplete load
	if d.s, err = sqlitestore.Open(d.dir); err != nil {
		return err
	}
	if err := d.load(b); err != nil {
		return err
	}
	raw, err := json.Marshal(struct{ Common, Rare string }{d.common, d.rare})
	if err != nil {
		return err
	}
	return os.WriteFile(names, raw, 0o600)
}

// load writes the patients' resources, one patient's Bundle a unit of
// work, and picks the prefixes.
func (d *synthData) load(b *testing.B) error {
	reg, err := searchparam.Load()
	if err != nil {
		return err
	}
	start := time.Now()
	lu := synth.DefaultStart
	seq, patient := 0, 0
	families := map[string]int{}
	err = synth.Each(synth.Options{Seed: 11, Patients: d.patients}, func(raw []byte) error {
		var bundle struct {
			Entry []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
				Request  struct{ URL string }
			} `json:"entry"`
		}
		if err := json.Unmarshal(raw, &bundle); err != nil {
			return err
		}
		refs := make([]string, 0, 2*len(bundle.Entry))
		ids := make([]string, len(bundle.Entry))
		for i, e := range bundle.Entry {
			seq++
			ids[i] = fmt.Sprintf("%08x-0000-7000-8000-%012x", seq, seq)
			refs = append(refs, `"`+e.FullURL+`"`, `"`+e.Request.URL+"/"+ids[i]+`"`)
		}
		rewrite := strings.NewReplacer(refs...)
		patient++
		return d.s.Write(context.Background(), func(tx fhir.Tx) error {
			for i, e := range bundle.Entry {
				r, err := synthResource(reg, e.Request.URL, ids[i], rewrite.Replace(string(e.Resource)), lu)
				if err != nil {
					return err
				}
				if r.Type == "Patient" {
					fam := patientFamily(r.JSON)
					families[strings.TrimRightFunc(fam, unicode.IsDigit)]++
					if patient == (d.patients+1)/2 {
						d.rare = search.Fold(fam)
					}
				}
				if err := tx.Put(r); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	most := ""
	for f, n := range families {
		if n > families[most] || n == families[most] && f < most {
			most = f
		}
	}
	d.common = string([]rune(search.Fold(most))[:3])
	b.Logf("loaded %d patients (%d resources) in %s; common prefix %q, rare %q",
		d.patients, seq, time.Since(start).Round(time.Second), d.common, d.rare)
	return nil
}

// synthResource gives a generated resource its id and meta and indexes it.
func synthResource(reg *searchparam.Registry, typ, id, js string, lu time.Time) (*fhir.Resource, error) {
	head := `{"resourceType":"` + typ + `",`
	if !strings.HasPrefix(js, head) {
		return nil, fmt.Errorf("%s: resource does not start with its type", typ)
	}
	js = head + `"id":"` + id + `","meta":{"versionId":"1","lastUpdated":"` + lu.Format(fhir.InstantFormat) + `"},` + js[len(head):]
	o, err := fhir.ParseObject([]byte(js))
	if err != nil {
		return nil, err
	}
	index, err := reg.Extract(typ, []byte(js))
	if err != nil {
		return nil, err
	}
	return &fhir.Resource{Type: typ, ID: id, Version: 1, Method: "POST", LastUpdated: lu, JSON: []byte(js),
		Tokens: fhir.Identifiers(o), Index: index}, nil
}

func patientFamily(js []byte) string {
	var p struct{ Name []struct{ Family string } }
	if json.Unmarshal(js, &p) != nil || len(p.Name) == 0 {
		return ""
	}
	return p.Name[0].Family
}

func closeSynthStores() {
	synthStores.Lock()
	defer synthStores.Unlock()
	for _, d := range synthStores.m {
		if d.s != nil {
			d.s.Close()
		}
		if d.temp && d.dir != "" {
			os.RemoveAll(d.dir)
		}
	}
}

// BenchmarkSearchSynthName: Patient?name=<prefix> among 1 000 and 10 000
// generated patients, a page of 20 (21 asked, as the API does to know
// whether more follow) and the count (_total=accurate), for a common
// prefix (the first three letters of the most frequent family name), a
// rare one (one patient's family name, digits included) and one letter
// that begins every patient's name prefix ("Mr.", "Ms."), whose page 26
// (offset 500) is asked too.
func BenchmarkSearchSynthName(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("patients=%d", n), func(b *testing.B) {
			d := synthStore(b, n)
			for _, c := range []struct{ name, prefix string }{
				{"common", d.common}, {"rare", d.rare}, {"one letter", "m"},
			} {
				q := fhir.Query{Type: "Patient", Limit: 21, Clauses: []fhir.Clause{
					{Param: "name", Type: fhir.TypeString, Values: []fhir.Value{{Code: c.prefix}}},
				}}
				b.Run(c.name+"/page", func(b *testing.B) {
					benchSearch(b, d.s, atLeast(1), func(int) fhir.Query { return q })
				})
				if c.name == "one letter" {
					b.Run(c.name+"/page 26", func(b *testing.B) {
						benchSearch(b, d.s, exactly(21), func(int) fhir.Query { qq := q; qq.Offset = 500; return qq })
					})
				}
				b.Run(c.name+"/count", func(b *testing.B) {
					benchCount(b, d.s, atLeast(1), func(int) fhir.Query { return q })
				})
			}
		})
	}
}
