package sqlitestore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// Each Write in these benchmarks is one unit of work, so one commit and
// one sync of the WAL (synchronous=FULL): the figures include the disk.

// patientJSON is a Patient as a portal would store it, about 1.5 KB.
func patientJSON(id string, version int, at time.Time) []byte {
	return fmt.Appendf(nil, `{"resourceType":"Patient","id":%q,"meta":{"versionId":"%d","lastUpdated":%q,`+
		`"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},`+
		`"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[`+
		`{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3","display":"White"}},`+
		`{"url":"text","valueString":"White"}]},`+
		`{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}],`+
		`"identifier":[{"use":"usual","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR","display":"Medical Record Number"}]},`+
		`"system":"urn:oid:1.2.36.146.595.217.0.1","value":"MRN-%s","period":{"start":"2001-05-06"},"assigner":{"display":"Oncology Clinic"}},`+
		`{"use":"official","system":"http://hl7.org/fhir/sid/us-ssn","value":"999-%s"}],`+
		`"active":true,"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],`+
		`"telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work","rank":1},{"system":"phone","value":"(03) 3410 5613","use":"mobile","rank":2},`+
		`{"system":"email","value":"peter.chalmers@example.org","use":"home"}],`+
		`"gender":"female","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},`+
		`"deceasedBoolean":false,"address":[{"use":"home","type":"both","text":"534 Erewhon St, PleasantVille, Rainbow, Vic 3999",`+
		`"line":["534 Erewhon St"],"city":"PleasantVille","district":"Rainbow","state":"Vic","postalCode":"3999","period":{"start":"1974-12-25"}}],`+
		`"maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M","display":"Married"}]},`+
		`"contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"N"}]}],`+
		`"name":{"family":"du Marché","given":["Bénédicte"]},"telecom":[{"system":"phone","value":"+33 (237) 998327"}],"gender":"female"}],`+
		`"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"en-AU"}]},"preferred":true}],`+
		`"generalPractitioner":[{"reference":"Practitioner/onc-1","display":"Dr Adam Careful"}],`+
		`"managingOrganization":{"reference":"Organization/1","display":"Oncology Clinic"}}`,
		id, version, at.Format(fhir.InstantFormat), id, id)
}

func patient(id string, version int, at time.Time) *fhir.Resource {
	method := "POST"
	if version > 1 {
		method = "PUT"
	}
	return &fhir.Resource{Type: "Patient", ID: id, Version: version, LastUpdated: at, Method: method,
		JSON: patientJSON(id, version, at), Tokens: []fhir.Token{
			{Param: "identifier", System: "urn:oid:1.2.36.146.595.217.0.1", Code: "MRN-" + id},
			{Param: "identifier", System: "http://hl7.org/fhir/sid/us-ssn", Code: "999-" + id},
		}}
}

// benchStore opens a store with n patients p0 … p(n-1) at version 1.
func benchStore(b *testing.B, n int) (*sqlitestore.Store, []string) {
	b.Helper()
	s := openTemp(b)
	b.Cleanup(func() { s.Close() })
	at := fhir.TruncateTime(time.Now())
	ids := make([]string, n)
	for start := 0; start < n; start += 500 {
		err := s.Write(context.Background(), func(tx fhir.Tx) error {
			for i := start; i < min(start+500, n); i++ {
				ids[i] = fmt.Sprintf("p%d", i)
				if err := tx.Put(patient(ids[i], 1, at)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

func put(ctx context.Context, s *sqlitestore.Store, r *fhir.Resource) error {
	return s.Write(ctx, func(tx fhir.Tx) error { return tx.Put(r) })
}

// BenchmarkCreate: one new Patient per unit of work.
func BenchmarkCreate(b *testing.B) {
	s, _ := benchStore(b, 0)
	ctx := context.Background()
	at := fhir.TruncateTime(time.Now())
	rs := make([]*fhir.Resource, b.N)
	for i := range rs {
		rs[i] = patient(fmt.Sprintf("new%d", i), 1, at)
	}
	b.SetBytes(int64(len(rs[0].JSON)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := put(ctx, s, rs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateParallel: BenchmarkCreate from concurrent writers, as a
// server under load runs them.
func BenchmarkCreateParallel(b *testing.B) {
	s, _ := benchStore(b, 0)
	ctx := context.Background()
	at := fhir.TruncateTime(time.Now())
	rs := make([]*fhir.Resource, b.N)
	for i := range rs {
		rs[i] = patient(fmt.Sprintf("new%d", i), 1, at)
	}
	var next atomic.Int64
	b.SetParallelism(4) // 4 writers per CPU
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := put(ctx, s, rs[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRead: the current version of one of 10 000 Patients.
func BenchmarkRead(b *testing.B) {
	s, ids := benchStore(b, 10_000)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.Read(ctx, "Patient", ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i += 7919 // a prime: goroutines spread over the ids
				if _, err := s.Read(ctx, "Patient", ids[i%len(ids)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkUpdate: the next version of one of 1 000 Patients per unit of
// work (current row replaced, history row and tokens written).
func BenchmarkUpdate(b *testing.B) {
	s, ids := benchStore(b, 1000)
	ctx := context.Background()
	at := fhir.TruncateTime(time.Now())
	rs := make([]*fhir.Resource, b.N)
	for i := range rs {
		rs[i] = patient(ids[i%len(ids)], 2+i/len(ids), at)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := put(ctx, s, rs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchIdentifier: one Patient of 10 000 by identifier, any
// system.
func BenchmarkSearchIdentifier(b *testing.B) {
	s, ids := benchStore(b, 10_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		q := fhir.Query{Type: "Patient", Tokens: []fhir.Token{{Param: "identifier", Code: "MRN-" + ids[i%len(ids)]}}}
		got, err := s.Search(ctx, q)
		if err != nil || len(got) != 1 {
			b.Fatal(got, err)
		}
	}
}

// BenchmarkHistoryInstance: the first page of a Patient with 10 versions.
func BenchmarkHistoryInstance(b *testing.B) {
	s, ids := benchStore(b, 100)
	ctx := context.Background()
	at := fhir.TruncateTime(time.Now())
	for _, id := range ids {
		for v := 2; v <= 10; v++ {
			if err := put(ctx, s, patient(id, v, at)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		page, err := s.History(ctx, fhir.HistoryQuery{Type: "Patient", ID: ids[i%len(ids)], Count: 20})
		if err != nil || len(page.Entries) != 10 {
			b.Fatal(err)
		}
	}
}
