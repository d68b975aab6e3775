package synth

import "testing"

// BenchmarkGenerate measures one patient Bundle per op, marshalling included.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	var size int
	err := Each(Options{Seed: 1, Patients: b.N, Start: testStart}, func(bundle []byte) error {
		size += len(bundle)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/float64(b.N), "bytes/patient")
}
