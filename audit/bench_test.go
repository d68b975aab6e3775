package audit_test

import (
	"context"
	"crypto/ed25519"
	"runtime"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/audit"
)

// BenchmarkRecord32 records one event per call from 32 goroutines on the
// embedded engine: what an audited request pays. ns/op is wall time per
// event across all callers; latency-µs is what one caller waits.
func BenchmarkRecord32(b *testing.B) {
	s := engines()[0].open(b)
	rec := newRecorder(b, s, newKey(b), audit.Config{})
	defer rec.Close()
	const callers = 32
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	ev := testEvent(1)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := *ev // a fresh id each
			if err := rec.Record(context.Background(), &e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	par := float64(runtime.GOMAXPROCS(0) * ((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)))
	b.ReportMetric(elapsed.Seconds()*1e6*par/float64(b.N), "latency-µs")
}

// BenchmarkVerify walks a chain of 2,000 events.
func BenchmarkVerify(b *testing.B) {
	s := engines()[0].open(b)
	key := newKey(b)
	rec := newRecorder(b, s, key, audit.Config{})
	evs := make([]*audit.Event, 100)
	for i := range evs {
		evs[i] = testEvent(i)
	}
	for range 20 {
		if err := rec.Record(context.Background(), evs...); err != nil {
			b.Fatal(err)
		}
	}
	rec.Close()
	b.ResetTimer()
	for b.Loop() {
		r := verify(b, s, key.Public().(ed25519.PublicKey))
		if !r.OK() || r.Events != 2000 {
			b.Fatal(r)
		}
	}
	b.ReportMetric(float64(2000*b.N)/b.Elapsed().Seconds(), "events/s")
}
