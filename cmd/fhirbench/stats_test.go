package main

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no values → 0", nil, 0.5, 0},
		{"one value is every percentile", []time.Duration{7}, 0.99, 7},
		{"p50 of 1..100 → 50", hundred, 0.50, 50 * time.Millisecond},
		{"p90 of 1..100 → 90", hundred, 0.90, 90 * time.Millisecond},
		{"p99 of 1..100 → 99", hundred, 0.99, 99 * time.Millisecond},
		{"p100 → the largest", hundred, 1, 100 * time.Millisecond},
		{"p50 of two → the smaller", []time.Duration{1, 2}, 0.5, 1},
		{"p99 of ten → the largest", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{"p0 → the smallest", []time.Duration{3, 4}, 0, 3},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSortLatenciesMergesWorkers(t *testing.T) {
	got := sortLatencies([][]time.Duration{{5, 1}, nil, {3, 2, 4}})
	for i, want := range []time.Duration{1, 2, 3, 4, 5} {
		if got[i] != want {
			t.Fatalf("got %v", got)
		}
	}
}

func TestSummaryLines(t *testing.T) {
	lat := []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond}
	tests := []struct {
		name string
		r    result
		want string
	}{
		{"a read", result{name: "read", clients: 32, requests: 4, errors: 1, elapsed: 2 * time.Second, lat: lat},
			"scenario=read clients=32 elapsed_s=2.00 requests=4 errors=1 rps=2.0 p50_ms=2.000 p90_ms=4.000 p99_ms=4.000"},
		{"everything appends resources per record", result{name: "everything", clients: 2, requests: 4, elapsed: time.Second, lat: lat, items: 250, itemsKey: "resources_per_record"},
			"scenario=everything clients=2 elapsed_s=1.00 requests=4 errors=0 rps=4.0 p50_ms=2.000 p90_ms=4.000 p99_ms=4.000 resources_per_record=62.5"},
		{"the load appends resources and resources/s", result{name: "load", clients: 8, requests: 4, elapsed: 2 * time.Second, lat: lat, items: 300},
			"scenario=load clients=8 elapsed_s=2.00 requests=4 errors=0 rps=2.0 p50_ms=2.000 p90_ms=4.000 p99_ms=4.000 resources=300 resources_per_s=150.0"},
		{"nothing measured", result{name: "create", clients: 1},
			"scenario=create clients=1 elapsed_s=0.00 requests=0 errors=0 rps=0.0 p50_ms=0.000 p90_ms=0.000 p99_ms=0.000"},
	}
	for _, tt := range tests {
		if got := tt.r.line(); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
