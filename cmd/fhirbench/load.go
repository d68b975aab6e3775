package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/oncofhir/oncofhir/fhir/synth"
)

// synthStart is the "now" of the generated histories, the one
// `fhirserver generate` and --demo use, so that the same seed gives the
// same data here and there.
var synthStart = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

// job is one generated patient Bundle and its position.
type job struct {
	i      int
	bundle []byte
}

// loadPatients generates opts.Patients synthetic patients and POSTs each
// transaction Bundle from clients goroutines. It stops at the first Bundle
// the server refuses and says which and why. The result counts Bundles as
// requests and their entries as items; known holds the Patient ids, in
// patient order, and their family names.
func loadPatients(ctx context.Context, c *client, opts synth.Options, clients int) (result, *known, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan job)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		i := 0
		err := synth.Each(opts, func(b []byte) error {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			select {
			case jobs <- job{i, b}:
				i++
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		if err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("generating patient %d: %w", i+1, err))
		}
	})
	ids := make([]string, opts.Patients)
	families := make([]string, opts.Patients)
	lats := make([][]time.Duration, clients)
	entries := make([]int64, clients)
	refused := make([]int, clients)
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue // drain; the producer stops at the cancel
				}
				family, err := patientFamily(j.bundle)
				if err != nil {
					cancel(fmt.Errorf("patient %d: %w", j.i+1, err))
					continue
				}
				t0 := time.Now()
				id, n, err := postTransaction(ctx, c, j.bundle)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() == nil {
						refused[w]++
						cancel(fmt.Errorf("patient %d of %d (seed %d): bundle refused: %w", j.i+1, opts.Patients, opts.Seed, err))
					}
					continue
				}
				lats[w] = append(lats[w], d)
				entries[w] += int64(n)
				ids[j.i], families[j.i] = id, family
			}
		})
	}
	wg.Wait()
	res := result{name: "load", clients: clients, elapsed: time.Since(start), lat: sortLatencies(lats)}
	res.requests = len(res.lat)
	for w := range clients {
		res.items += entries[w]
		res.errors += refused[w]
	}
	if err := context.Cause(ctx); err != nil {
		return res, nil, err
	}
	return res, &known{ids: ids, families: families}, nil
}

// postTransaction POSTs a transaction Bundle, checks every entry of the
// answer succeeded, and returns the Patient's id and the number of entries.
func postTransaction(ctx context.Context, c *client, body []byte) (string, int, error) {
	var b bundle
	if err := c.do(ctx, http.MethodPost, "", body, http.StatusOK, &b); err != nil {
		return "", 0, err
	}
	var id string
	var errs []error
	for i, e := range b.Entry {
		if e.Response == nil || !strings.HasPrefix(e.Response.Status, "2") {
			st := "no response"
			if e.Response != nil {
				st = e.Response.Status
			}
			errs = append(errs, fmt.Errorf("entry %d: %s", i, st))
			continue
		}
		if typ, pid := idFromLocation(e.Response.Location); typ == "Patient" && id == "" {
			id = pid
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", 0, err
	}
	if id == "" {
		return "", 0, errors.New("the transaction-response has no Patient location")
	}
	return id, len(b.Entry), nil
}

// patientFamily is the family name of the Patient in a generated Bundle.
func patientFamily(b []byte) (string, error) {
	var in struct {
		Entry []struct {
			Resource struct {
				ResourceType string          `json:"resourceType"`
				Name         json.RawMessage `json:"name"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return "", fmt.Errorf("reading the generated bundle: %w", err)
	}
	for _, e := range in.Entry {
		if e.Resource.ResourceType == "Patient" {
			if f := family(e.Resource.Name); f != "" {
				return f, nil
			}
		}
	}
	return "", errors.New("the generated bundle has no named Patient")
}
