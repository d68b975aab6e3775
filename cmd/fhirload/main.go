// Command fhirload measures read throughput and latency of a running
// server: concurrent clients read resources by id for a bounded time and
// number of requests, then it prints requests per second and p50/p90/p99.
//
//	fhirload -base http://localhost:8080/fhir -c 32 -d 20s
//
// Against a server that asks for SMART bearer tokens, give a backend
// client and its key (see fhirbench keygen): with -client and -key it gets
// a token from the server's token endpoint and renews it before it
// expires. Without them it sends no token, and a 401 stops it with the
// commands that register a client. It never prints the token or the key.
//
// With -compare it measures a second server holding the same data too,
// the two in turn for -rounds rounds of -d each, and prints the ratio of
// their throughputs: how the audit trail's cost is measured, against a
// build without it on the same data (README.md, "Figures").
//
// It only targets the addresses it is given; use it on your own machine.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oncofhir/oncofhir/cmd/fhirbench/backendauth"
)

// options is the command line.
type options struct {
	base, typ string
	compare   string // a second server to measure against, alternately
	rounds    int
	clients   int
	dur       time.Duration
	max       int
	clientID  string // SMART backend client; empty: no token
	keyFile   string
	scope     string
}

func main() {
	var o options
	flag.StringVar(&o.base, "base", "http://localhost:8080/fhir", "FHIR base URL")
	flag.StringVar(&o.typ, "type", "Patient", "resource type to read")
	flag.StringVar(&o.compare, "compare", "", "a second FHIR base URL holding the same data: measure both, alternately, and print their ratio")
	flag.IntVar(&o.rounds, "rounds", 3, "with -compare, how many times to measure each server (-d each time)")
	flag.IntVar(&o.clients, "c", 32, "concurrent clients")
	flag.DurationVar(&o.dur, "d", 20*time.Second, "how long to run")
	flag.IntVar(&o.max, "n", 2_000_000, "stop after this many requests")
	flag.StringVar(&o.clientID, "client", "", "SMART backend client `ID` to authenticate as (with -key)")
	flag.StringVar(&o.keyFile, "key", "", "PEM private key `FILE` of the -client (fhirbench keygen makes one)")
	flag.StringVar(&o.scope, "scope", "system/*.rs", "scopes to ask for with -client")
	flag.Parse()
	err := errors.New("-client and -key go together")
	if (o.clientID == "") == (o.keyFile == "") {
		err = run(context.Background(), o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fhirload:", err)
		os.Exit(1)
	}
}

// reader sends the GETs, with a bearer token when auth is set.
type reader struct {
	http *http.Client
	auth *backendauth.Source
}

// errUnauthorized is the server's 401.
var errUnauthorized = errors.New("401 Unauthorized")

// tokenError is a failure to obtain an access token.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "getting an access token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// get sends a GET and fails with errUnauthorized on a 401.
func (r *reader) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if r.auth != nil {
		tok, err := r.auth.Token(ctx)
		if err != nil {
			return nil, &tokenError{err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %w", url, errUnauthorized)
	}
	return resp, nil
}

// explain says what to do about a 401 or a token that could not be had;
// other errors pass unchanged.
func explain(err error, o options) error {
	var te *tokenError
	var be *backendauth.TokenError
	switch {
	case errors.Is(err, errUnauthorized) && o.clientID == "":
		return fmt.Errorf("the server asks for an access token (%w); %s", err, backendauth.HowToRegister("fhirload"))
	case errors.Is(err, errUnauthorized):
		return fmt.Errorf("the server refused the access token of client %s (%w): was the client removed, or its tokens revoked?", o.clientID, err)
	case errors.As(err, &be) && be.Code == "invalid_client":
		return fmt.Errorf("client %s: %w\nIs it registered with the public key of %s? To start afresh, %s",
			o.clientID, err, o.keyFile, backendauth.HowToRegister("fhirload"))
	case errors.As(err, &te):
		return fmt.Errorf("client %s: %w", o.clientID, err)
	}
	return err
}

func run(ctx context.Context, o options, out io.Writer) error {
	tr := &http.Transport{MaxIdleConns: 2 * o.clients, MaxIdleConnsPerHost: o.clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	bases := []string{o.base}
	if o.compare != "" {
		bases = append(bases, o.compare)
	}
	readers := make([]*reader, len(bases))
	for i, base := range bases {
		readers[i] = &reader{http: hc}
		if o.clientID != "" {
			if err := readers[i].authenticate(ctx, o, base); err != nil {
				return explain(err, o)
			}
		}
	}
	ids, err := listIDs(ctx, readers[0], o.base, o.typ)
	if err != nil {
		return explain(err, o)
	}
	if len(ids) == 0 {
		return fmt.Errorf("no %s to read: load data first (fhirserver --demo)", o.typ)
	}
	if o.compare == "" {
		ph, err := measure(ctx, o, readers[0], o.base, ids)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, ph)
		return nil
	}
	// Alternate between the two servers so that whatever else the
	// machine does falls on both alike.
	var reads [2]int
	var secs [2]float64
	for round := 1; round <= o.rounds; round++ {
		for i, base := range bases {
			ph, err := measure(ctx, o, readers[i], base, ids)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "round %d, %s: %s\n", round, base, ph)
			reads[i] += ph.reads
			secs[i] += ph.elapsed.Seconds()
		}
	}
	rate := [2]float64{float64(reads[0]) / secs[0], float64(reads[1]) / secs[1]}
	fmt.Fprintf(out, "%s: %.0f reads/s; %s: %.0f reads/s; the first has %.1f %% %s throughput than the second (ratio %.3f)\n",
		bases[0], rate[0], bases[1], rate[1], 100*abs(1-rate[0]/rate[1]), lessOrMore(rate[0], rate[1]), rate[0]/rate[1])
	return nil
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func lessOrMore(a, b float64) string {
	if a < b {
		return "less"
	}
	return "more"
}

// phase is what one measurement of one server found.
type phase struct {
	clients, reads, ids, failed int
	typ                         string
	elapsed                     time.Duration
	p50, p90, p99               time.Duration
}

func (p phase) String() string {
	return fmt.Sprintf("clients %d, %d reads of %d %s in %s: %.0f reads/s; p50 %s, p90 %s, p99 %s; %d failed",
		p.clients, p.reads, p.ids, p.typ, p.elapsed.Round(time.Millisecond), float64(p.reads)/p.elapsed.Seconds(),
		p.p50.Round(time.Microsecond), p.p90.Round(time.Microsecond), p.p99.Round(time.Microsecond), p.failed)
}

// measure reads from base with o.clients clients for o.dur (or o.max
// requests).
func measure(ctx context.Context, o options, r *reader, base string, ids []string) (phase, error) {
	ctx, cancel := context.WithTimeout(ctx, o.dur)
	defer cancel()
	var stopOnce sync.Once
	var stopErr error // a 401 or no token: ends the run
	var sent, failed atomic.Int64
	lat := make([][]time.Duration, o.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < o.clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; ctx.Err() == nil; i += o.clients {
				if sent.Add(1) > int64(o.max) {
					return
				}
				url := base + "/" + o.typ + "/" + ids[i%len(ids)]
				t0 := time.Now()
				resp, err := r.get(ctx, url)
				var te *tokenError
				if errors.Is(err, errUnauthorized) || errors.As(err, &te) {
					stopOnce.Do(func() { stopErr = err; cancel() })
					return
				}
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
	if stopErr != nil {
		return phase{}, explain(stopErr, o)
	}
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		return phase{}, fmt.Errorf("no request to %s succeeded (%d failed)", base, failed.Load())
	}
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	return phase{clients: o.clients, reads: len(all), ids: len(ids), typ: o.typ, elapsed: elapsed, failed: int(failed.Load()),
		p50: pct(0.50), p90: pct(0.90), p99: pct(0.99)}, nil
}

// authenticate makes r send the bearer token of a SMART backend client,
// getting the first at once so that an unknown client stops the run here.
func (r *reader) authenticate(ctx context.Context, o options, base string) error {
	key, err := backendauth.LoadKey(o.keyFile)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	tokenURL, err := backendauth.Discover(ctx, r.http, base)
	if err != nil {
		return err
	}
	src, err := backendauth.NewSource(backendauth.Config{ClientID: o.clientID, Key: key, TokenURL: tokenURL, Scope: o.scope, HTTP: r.http})
	if err != nil {
		return err
	}
	if _, err := src.Token(ctx); err != nil {
		return &tokenError{err}
	}
	r.auth = src
	return nil
}

// listIDs collects ids from the type's history (search arrives later).
func listIDs(ctx context.Context, r *reader, base, typ string) ([]string, error) {
	resp, err := r.get(ctx, base+"/"+typ+"/_history?_count=1000")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/%s/_history: %s", base, typ, resp.Status)
	}
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
