// Command fhirload measures read throughput and latency of a running
// server: concurrent clients read resources by id for a bounded time and
// number of requests, then it prints requests per second and p50/p90/p99.
//
//	fhirload -base http://localhost:8080/fhir -c 32 -d 20s
//
// It only targets the address it is given; use it on your own machine.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("base", "http://localhost:8080/fhir", "FHIR base URL")
	typ := flag.String("type", "Patient", "resource type to read")
	clients := flag.Int("c", 32, "concurrent clients")
	dur := flag.Duration("d", 20*time.Second, "how long to run")
	max := flag.Int("n", 2_000_000, "stop after this many requests")
	flag.Parse()
	if err := run(*base, *typ, *clients, *dur, *max); err != nil {
		fmt.Fprintln(os.Stderr, "fhirload:", err)
		os.Exit(1)
	}
}

func run(base, typ string, clients int, dur time.Duration, max int) error {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ids, err := listIDs(client, base, typ)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("no %s to read: load data first (fhirserver --demo)", typ)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var sent, failed atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; ctx.Err() == nil; i += clients {
				if sent.Add(1) > int64(max) {
					return
				}
				url := base + "/" + typ + "/" + ids[i%len(ids)]
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		return fmt.Errorf("no request succeeded (%d failed)", failed.Load())
	}
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	fmt.Printf("clients %d, %d reads of %d %s in %s: %.0f reads/s; p50 %s, p90 %s, p99 %s; %d failed\n",
		clients, len(all), len(ids), typ, elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), failed.Load())
	return nil
}

// listIDs collects ids from the type's history (search arrives later).
func listIDs(client *http.Client, base, typ string) ([]string, error) {
	resp, err := client.Get(base + "/" + typ + "/_history?_count=1000")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b struct {
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, e := range b.Entry {
		if id := e.Resource.ID; id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}
