package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// op is one unit of a scenario: a request, or a walk along paging links
// (one whole record for everything). It returns how many items it carried.
type op func(ctx context.Context, r *rand.Rand) (items int, err error)

// bounds stop a scenario: whichever comes first of the duration and the
// number of ops (0: no cap). The seed makes each client's choices repeatable.
type bounds struct {
	clients int
	dur     time.Duration
	max     int
	seed    uint64
}

// bench runs fn from b.clients goroutines until the duration passes, the
// op budget is spent or ctx ends, and returns once every goroutine has.
// An op cut off by the deadline counts neither as done nor as an error.
// An authentication failure (a 401, no token) stops every goroutine: the
// result's stop holds it.
func bench(ctx context.Context, name, itemsKey string, b bounds, fn op) result {
	ctx, cancel := context.WithTimeout(ctx, b.dur)
	defer cancel()
	var stopOnce sync.Once
	var stopErr error
	stop := func(err error) { stopOnce.Do(func() { stopErr = err; cancel() }) }
	type part struct {
		lat      []time.Duration
		items    int64
		errors   int
		firstErr error
	}
	parts := make([]part, b.clients)
	var budget atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range b.clients {
		wg.Go(func() {
			p := &parts[w]
			r := rand.New(rand.NewPCG(b.seed, uint64(w)))
			for ctx.Err() == nil {
				if b.max > 0 && budget.Add(1) > int64(b.max) {
					return
				}
				t0 := time.Now()
				n, err := fn(ctx, r)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					p.errors++
					if p.firstErr == nil {
						p.firstErr = err
					}
					if authFailure(err) {
						stop(err)
						return
					}
					continue
				}
				p.lat = append(p.lat, d)
				p.items += int64(n)
			}
		})
	}
	wg.Wait()
	res := result{name: name, clients: b.clients, elapsed: time.Since(start), itemsKey: itemsKey, stop: stopErr}
	lats := make([][]time.Duration, len(parts))
	for i, p := range parts {
		lats[i] = p.lat
		res.requests += len(p.lat)
		res.items += p.items
		res.errors += p.errors
		if res.firstErr == nil {
			res.firstErr = p.firstErr
		}
	}
	res.lat = sortLatencies(lats)
	return res
}

// scenarioNames lists the scenarios in their default order: reads first,
// writes last, so that the reads see the loaded data only.
var scenarioNames = []string{"read", "search-obs", "search-name", "everything", "create", "transaction"}

// scenario is a named op and what its items are.
type scenario struct {
	itemsKey string
	op       op
}

// scenarios builds every scenario over the known patients.
func scenarios(c *client, k *known) map[string]scenario {
	pick := func(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }
	return map[string]scenario{
		"read": {op: func(ctx context.Context, r *rand.Rand) (int, error) {
			return 0, c.do(ctx, http.MethodGet, "Patient/"+pick(r, k.ids), nil, http.StatusOK, nil)
		}},
		"search-obs": {itemsKey: "matches_per_search", op: func(ctx context.Context, r *rand.Rand) (int, error) {
			q := url.Values{"patient": {"Patient/" + pick(r, k.ids)}, "code": {"http://loinc.org|718-7"}}
			var b bundle
			err := c.do(ctx, http.MethodGet, "Observation?"+q.Encode(), nil, http.StatusOK, &b)
			return b.matches(), err
		}},
		"search-name": {itemsKey: "matches_per_search", op: func(ctx context.Context, r *rand.Rand) (int, error) {
			q := url.Values{"name": {namePrefix(pick(r, k.families), 2+r.IntN(2))}}
			var b bundle
			err := c.do(ctx, http.MethodGet, "Patient?"+q.Encode(), nil, http.StatusOK, &b)
			return b.matches(), err
		}},
		"everything": {itemsKey: "resources_per_record", op: func(ctx context.Context, r *rand.Rand) (int, error) {
			n := 0
			err := c.pages(ctx, "Patient/"+pick(r, k.ids)+"/$everything?_count=1000", func(b *bundle) error {
				n += b.matches()
				return nil
			})
			return n, err
		}},
		"create": {op: func(ctx context.Context, r *rand.Rand) (int, error) {
			body, err := json.Marshal(observation(r, "Patient/"+pick(r, k.ids)))
			if err != nil {
				return 0, err
			}
			return 0, c.do(ctx, http.MethodPost, "Observation", body, http.StatusCreated, nil)
		}},
		"transaction": {op: func(ctx context.Context, r *rand.Rand) (int, error) {
			body, err := json.Marshal(transaction(r))
			if err != nil {
				return 0, err
			}
			var b bundle
			if err := c.do(ctx, http.MethodPost, "", body, http.StatusOK, &b); err != nil {
				return 0, err
			}
			return 0, checkEntries(&b, 2)
		}},
	}
}

// parseScenarios reads -scenarios: a comma list of names, or "all".
func parseScenarios(s string) ([]string, error) {
	if s == "" || s == "all" {
		return scenarioNames, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		ok := false
		for _, n := range scenarioNames {
			ok = ok || n == name
		}
		if !ok {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", name, strings.Join(scenarioNames, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

// namePrefix is the first n letters of a family name ("Amb" of
// "Ambercroft482"), or all its letters when it has fewer.
func namePrefix(family string, n int) string {
	letters := []rune{}
	for _, c := range family {
		if len(letters) == n || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c > 127) {
			break
		}
		letters = append(letters, c)
	}
	if len(letters) == 0 {
		return family
	}
	return string(letters)
}

// checkEntries checks a transaction-response has want entries, each 2xx.
func checkEntries(b *bundle, want int) error {
	if len(b.Entry) != want {
		return fmt.Errorf("transaction-response has %d entries, want %d", len(b.Entry), want)
	}
	for i, e := range b.Entry {
		if e.Response == nil || !strings.HasPrefix(e.Response.Status, "2") {
			st := "no response"
			if e.Response != nil {
				st = e.Response.Status
			}
			return fmt.Errorf("transaction-response entry %d: %s", i, st)
		}
	}
	return nil
}
