package searchparam

import "testing"

func benchmarkExtract(b *testing.B, typ, file string) {
	r := registry(b)
	raw := readFile(b, file)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Extract(typ, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtractObservation: a blood pressure panel with two components
// (testdata/observation.json).
func BenchmarkExtractObservation(b *testing.B) {
	benchmarkExtract(b, "Observation", "observation.json")
}

// BenchmarkExtractPatient: names, identifiers, telecom, an address
// (testdata/patient.json).
func BenchmarkExtractPatient(b *testing.B) {
	benchmarkExtract(b, "Patient", "patient.json")
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(); err != nil {
			b.Fatal(err)
		}
	}
}
