package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// result is what one phase or scenario measured.
type result struct {
	name     string
	clients  int
	requests int             // requests that succeeded
	errors   int             // requests that failed (status or transport)
	elapsed  time.Duration   // from the first request to the last worker's end
	lat      []time.Duration // latencies of the requests that succeeded, sorted
	// items counts what the successful requests carried (resources per
	// Bundle, per record, matches per search); itemsKey names it per
	// request in the summary line, empty when the scenario counts nothing.
	items    int64
	itemsKey string
	firstErr error // the first failure, kept to show what went wrong
	stop     error // the authentication failure that ended it early, or nil
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 1) of sorted
// latencies: the smallest value with at least p of the values at or below
// it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// sortLatencies merges per-worker latencies into one sorted slice.
func sortLatencies(parts [][]time.Duration) []time.Duration {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	all := make([]time.Duration, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.Sort(all)
	return all
}

// rate is successful requests per second.
func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// perRequest is items per successful request.
func (r result) perRequest() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.items) / float64(r.requests)
}

// line is the summary of r on one line of key=value pairs, in a fixed
// order, so that runs can be compared with grep and awk:
//
//	scenario=read clients=32 elapsed_s=15.00 requests=120000 errors=0 rps=8000.0 p50_ms=1.234 p90_ms=2.345 p99_ms=5.678
//
// A scenario that counts items appends its key (resources_per_record=63.2);
// the load phase appends resources= and resources_per_s=.
func (r result) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario=%s clients=%d elapsed_s=%.2f requests=%d errors=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f",
		r.name, r.clients, r.elapsed.Seconds(), r.requests, r.errors, r.rate(),
		ms(percentile(r.lat, 0.50)), ms(percentile(r.lat, 0.90)), ms(percentile(r.lat, 0.99)))
	if r.itemsKey != "" {
		fmt.Fprintf(&b, " %s=%.1f", r.itemsKey, r.perRequest())
	}
	if r.name == "load" {
		var perSec float64
		if r.elapsed > 0 {
			perSec = float64(r.items) / r.elapsed.Seconds()
		}
		fmt.Fprintf(&b, " resources=%d resources_per_s=%.1f", r.items, perSec)
	}
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
