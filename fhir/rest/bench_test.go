package rest_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/rest"
	"github.com/oncofhir/oncofhir/fhir/synth"
)

// BenchmarkREST measures create, read and update through the real router
// (validation, stamping, storage) on each engine, without network. The
// MongoDB figures come from FerretDB unless MONGO_TEST_URI names a real
// server; FerretDB figures say nothing about MongoDB.
func BenchmarkREST(b *testing.B) {
	body, err := os.ReadFile("../../testdata/roundtrip/patient-primitive-extensions.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			s := newServer(b, eng.open(b))
			b.Run("create", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if r := s.do("POST", "/fhir/Patient", string(body)); r.status != http.StatusCreated {
						b.Fatal(r.status)
					}
				}
			})
			id := s.create(string(body))
			b.Run("read", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if r := s.do("GET", "/fhir/Patient/"+id, ""); r.status != http.StatusOK {
						b.Fatal(r.status)
					}
				}
			})
			update := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"gender":"female","birthDate":"1970-05-02","name":[{"family":"Okafor","given":["Ada"]}]}`, id)
			b.Run("update", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if r := s.do("PUT", "/fhir/Patient/"+id, update); r.status != http.StatusOK {
						b.Fatal(r.status)
					}
				}
			})
		})
	}
}

// BenchmarkTransactionBundle loads one generated patient (about 64
// resources) per operation through POST /fhir: validation, reference
// resolution, index extraction and storage.
func BenchmarkTransactionBundle(b *testing.B) {
	s := newServer(b, engines[0].open(b), func(d *rest.Deps) { d.MaxBodyBytes = 16 << 20 })
	bundles := synth.Generate(synth.Options{Seed: 9, Patients: 50})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := s.do("POST", "/fhir", string(bundles[i%len(bundles)])); r.status != http.StatusOK {
			b.Fatal(r.status, string(r.body))
		}
	}
}

// BenchmarkRead reads one Observation through the real router on SQLite:
// without a Guard, with a user-level token (one decision about the type)
// and with a patient token (the resource is checked against the patient's
// compartment too), to show what the access check adds to a read.
func BenchmarkRead(b *testing.B) {
	store := engines[0].open(b)
	admin := newServer(b, store)
	patient := admin.create(`{"resourceType":"Patient","name":[{"family":"Bench"}]}`)
	obs := admin.create(observation(patient, "laboratory", "718-7", ""))
	guarded := newServer(b, store, withGuard(b))
	for _, tc := range []struct {
		name string
		s    *server
		p    *fhir.Principal
	}{
		{"open", admin, nil},
		{"user", guarded, token("", "user/*.rs")},
		{"patient", guarded, token(patient, "patient/*.rs")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := tc.s.doAs(tc.p, "GET", "/fhir/Observation/"+obs, ""); r.status != http.StatusOK {
					b.Fatal(r.status, string(r.body))
				}
			}
		})
	}
}
