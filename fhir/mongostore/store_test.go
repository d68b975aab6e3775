package mongostore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore"
	"github.com/oncofhir/oncofhir/fhir/mongostore/ferrettest"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

// open starts (or, with MONGO_TEST_URI, reuses) a server and opens a store
// on a fresh database. storetest.Run closes the stores it is given; the
// benchmarks close theirs here.
func open(t testing.TB, o mongostore.Options) *mongostore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongostore.OpenWith(ctx, ferrettest.Start(t), "", o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// TestContract runs the Store contract with units as the server allows
// (journalled on FerretDB, transactions on a replica set).
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fhir.Store { return open(t, mongostore.Options{}) })
}

// TestContractLedger runs the ledger section (AuditEvent) with units as
// the server allows.
func TestContractLedger(t *testing.T) {
	storetest.RunLedger(t, func(t *testing.T) fhir.Store { return open(t, mongostore.Options{}) })
}

// TestContractSearch runs the search section: on FerretDB the clauses are
// evaluated in Go, on a MongoDB (MONGO_TEST_URI) by $elemMatch filters.
func TestContractSearch(t *testing.T) {
	storetest.RunSearch(t, func(t *testing.T) fhir.Store { return open(t, mongostore.Options{}) })
}

// TestContractJournal runs the contract with the journal forced, which
// matters when MONGO_TEST_URI names a replica set; on FerretDB it is what
// TestContract already ran.
func TestContractJournal(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := open(t, mongostore.Options{})
	defer s.Close()
	if !s.Transactions() {
		t.Skip("the server has no transactions: TestContract used the journal")
	}
	journal := func(t *testing.T) fhir.Store { return open(t, mongostore.Options{Units: mongostore.UnitsJournal}) }
	storetest.Run(t, journal)
	storetest.RunSearch(t, journal)
	storetest.RunLedger(t, journal)
}

// TestContractSearchScan runs the search section with the clauses
// evaluated in Go, which matters when MONGO_TEST_URI names a MongoDB; on
// FerretDB it is what TestContractSearch already ran.
func TestContractSearchScan(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := open(t, mongostore.Options{})
	defer s.Close()
	if !s.IndexedSearch() {
		t.Skip("the server has no $elemMatch: TestContractSearch evaluated the clauses in Go")
	}
	storetest.RunSearch(t, func(t *testing.T) fhir.Store { return open(t, mongostore.Options{Search: mongostore.SearchesScan}) })
}

// The benchmarks run on FerretDB unless MONGO_TEST_URI names a MongoDB;
// FerretDB figures say nothing about MongoDB (see DESIGN.md, Storage).

// patientJSON is a Patient of about 1.5 KB.
func patientJSON(id string, version int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"resourceType":"Patient","id":%q,"meta":{"versionId":"%d","lastUpdated":"2025-01-02T03:04:05.678Z"},`, id, version)
	b.WriteString(`"identifier":[{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"` + id + `"},{"system":"http://hospital.example/mrn","value":"MRN-` + id + `"}],`)
	b.WriteString(`"active":true,"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]},{"use":"maiden","family":"Windsor","given":["Peter","James"],"period":{"end":"2002"}}],`)
	b.WriteString(`"telecom":[{"use":"home"},{"system":"phone","value":"(03) 5555 6473","use":"work","rank":1},{"system":"phone","value":"(03) 3410 5613","use":"mobile","rank":2},{"system":"phone","value":"(03) 5555 8834","use":"old","period":{"end":"2014"}}],`)
	b.WriteString(`"gender":"male","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},"deceasedBoolean":false,`)
	b.WriteString(`"address":[{"use":"home","type":"both","text":"534 Erewhon St PeasantVille, Rainbow, Vic  3999","line":["534 Erewhon St"],"city":"PleasantVille","district":"Rainbow","state":"Vic","postalCode":"3999","period":{"start":"1974-12-25"}}],`)
	b.WriteString(`"contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"N"}]}],"name":{"family":"du Marché","_family":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/humanname-own-prefix","valueString":"VV"}]},"given":["Bénédicte"]},"telecom":[{"system":"phone","value":"+33 (237) 998327"}],"address":{"use":"home","type":"both","line":["534 Erewhon St"],"city":"PleasantVille","district":"Rainbow","state":"Vic","postalCode":"3999","period":{"start":"1974-12-25"}},"gender":"female","period":{"start":"2012"}}],`)
	b.WriteString(`"managingOrganization":{"reference":"Organization/1"},"extension":[{"url":"http://example.org/weight","valueDecimal":72.50},{"url":"http://example.org/score","valueDecimal":1e2}]}`)
	return []byte(b.String())
}

func patient(id string, version int) *fhir.Resource {
	return &fhir.Resource{
		Type: "Patient", ID: id, Version: version, Method: "PUT",
		LastUpdated: fhir.TruncateTime(time.Now()),
		JSON:        patientJSON(id, version),
		Tokens: []fhir.Token{
			{Param: "identifier", System: "urn:oid:1.2.36.146.595.217.0.1", Code: id},
			{Param: "identifier", System: "http://hospital.example/mrn", Code: "MRN-" + id},
		},
	}
}

func write(b *testing.B, s *mongostore.Store, r *fhir.Resource) {
	if err := s.Write(context.Background(), func(tx fhir.Tx) error { return tx.Put(r) }); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCreate(b *testing.B) {
	s := open(b, mongostore.Options{})
	defer s.Close()
	b.SetBytes(int64(len(patientJSON("p0000000", 1))))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		write(b, s, patient(fmt.Sprintf("p%07d", i), 1))
	}
}

func BenchmarkRead(b *testing.B) {
	s := open(b, mongostore.Options{})
	defer s.Close()
	const n = 100
	for i := range n {
		write(b, s, patient(fmt.Sprintf("p%07d", i), 1))
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Read(ctx, "Patient", fmt.Sprintf("p%07d", i%n)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	s := open(b, mongostore.Options{})
	defer s.Close()
	write(b, s, patient("p", 1))
	b.ResetTimer()
	for v := 2; b.Loop(); v++ {
		write(b, s, patient("p", v))
	}
}

// BenchmarkConditionalCreate is a create unless one matches: a search by
// identifier inside the unit, then the Put. On FerretDB the search scans
// the collection, so compare runs of the same -benchtime=Nx only.
func BenchmarkConditionalCreate(b *testing.B) {
	s := open(b, mongostore.Options{})
	defer s.Close()
	b.SetBytes(int64(len(patientJSON("p0000000", 1))))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := patient(fmt.Sprintf("p%07d", i), 1)
		err := s.Write(context.Background(), func(tx fhir.Tx) error {
			found, err := tx.Search(fhir.Query{Type: "Patient", Tokens: r.Tokens[1:], Limit: 2})
			if err != nil || len(found) > 0 {
				return err
			}
			return tx.Put(r)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchClauses times searches over index entries on n
// Observations of n/10 patients. On FerretDB they are evaluated in Go
// after a scan of the collection (see the package comment): the figures
// say what a test server does, nothing of MongoDB.
func BenchmarkSearchClauses(b *testing.B) {
	const n = 5000
	s := open(b, mongostore.Options{})
	defer s.Close()
	ctx := context.Background()
	day := 24 * 3600 * 1000.0
	start := float64(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	for i := 0; i < n; i += 250 {
		err := s.Write(ctx, func(tx fhir.Tx) error {
			for j := i; j < min(i+250, n); j++ {
				id := fmt.Sprintf("o%05d", j)
				r := &fhir.Resource{Type: "Observation", ID: id, Version: 1, Method: "POST",
					LastUpdated: fhir.TruncateTime(time.Now()),
					JSON:        []byte(`{"resourceType":"Observation","id":"` + id + `","status":"final"}`),
					Index: []fhir.IndexEntry{
						{Param: "code", Kind: fhir.TypeToken, System: "http://loinc.org", Code: fmt.Sprint(j % 20)},
						{Param: "subject", Kind: fhir.TypeReference, System: "Patient", Code: fmt.Sprintf("Patient/p%d", j%(n/10))},
						{Param: "date", Kind: fhir.TypeDate, Low: start + float64(j%365)*day, High: start + float64(j%365+1)*day},
						{Param: "status", Kind: fhir.TypeToken, Code: "final"},
					}}
				if err := tx.Put(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	tok := func(param, code string) fhir.Clause {
		return fhir.Clause{Param: param, Type: fhir.TypeToken, Values: []fhir.Value{{AnySystem: true, Code: code}}}
	}
	patient := fhir.Clause{Param: "subject", Type: fhir.TypeReference, Values: []fhir.Value{{Code: "Patient/p7"}}}
	march := fhir.Clause{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{
		{Prefix: "ge", Low: start + 60*day, High: start + 61*day}}}
	byDate := []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}}
	for _, bc := range []struct {
		name  string
		q     fhir.Query
		count bool
	}{
		{"patient and code", fhir.Query{Type: "Observation", Clauses: []fhir.Clause{patient, tok("code", "7")}, Limit: 51}, false},
		{"code, first page", fhir.Query{Type: "Observation", Clauses: []fhir.Clause{tok("code", "7")}, Limit: 51}, false},
		{"date range, first page", fhir.Query{Type: "Observation", Clauses: []fhir.Clause{march}, Limit: 51}, false},
		{"all by date, page 10", fhir.Query{Type: "Observation", Sort: byDate, Offset: 450, Limit: 51}, false},
		{"count of a code", fhir.Query{Type: "Observation", Clauses: []fhir.Clause{tok("code", "7")}}, true},
		{"no clause, first page", fhir.Query{Type: "Observation", Limit: 51}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				var err error
				if bc.count {
					_, err = s.Count(ctx, bc.q)
				} else {
					_, err = s.Search(ctx, bc.q)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
