package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir/synth"
)

func TestLoadPostsEveryBundleAndKnowsEachPatient(t *testing.T) {
	f := newFake(t)
	before := runtime.NumGoroutine()
	c, _ := newClient(f.base, 3, 5*time.Second)
	opts := synth.Options{Seed: 7, Patients: 5, Start: synthStart}
	res, k, err := loadPatients(context.Background(), c, opts, 3)
	if err != nil {
		t.Fatal(err)
	}
	var entries int64
	var families []string
	for _, b := range synth.Generate(opts) {
		var in bundle
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatal(err)
		}
		entries += int64(len(in.Entry))
		fam, err := patientFamily(b)
		if err != nil {
			t.Fatal(err)
		}
		families = append(families, fam)
	}
	if res.requests != 5 || res.errors != 0 || res.items != entries || len(res.lat) != 5 {
		t.Errorf("result %+v, want 5 bundles of %d entries in all", res, entries)
	}
	if len(k.ids) != 5 || len(f.patients) != 5 {
		t.Fatalf("known %v, server made %v", k.ids, f.patients)
	}
	made := map[string]bool{}
	for _, id := range f.patients {
		made[id] = true
	}
	for i, id := range k.ids {
		if !made[id] {
			t.Errorf("patient %d: id %q is not a Patient the server made", i, id)
		}
		if k.families[i] != families[i] {
			t.Errorf("patient %d: family %q, want %q", i, k.families[i], families[i])
		}
	}
	if !strings.Contains(res.line(), "scenario=load ") || !strings.Contains(res.line(), "resources=") {
		t.Errorf("line %s", res.line())
	}
	noLeaks(t, before, c)
}

func TestLoadStopsClearlyAtARefusedBundle(t *testing.T) {
	f := newFake(t)
	f.refuseBundle = 3
	before := runtime.NumGoroutine()
	c, _ := newClient(f.base, 2, 5*time.Second)
	res, _, err := loadPatients(context.Background(), c, synth.Options{Seed: 1, Patients: 50, Start: synthStart}, 2)
	if res.errors == 0 {
		t.Errorf("the load line says errors=0 after a refusal: %s", res.line())
	}
	var se *statusError
	if !errors.As(err, &se) || se.status != http.StatusUnprocessableEntity {
		t.Fatalf("got %v, want the 422", err)
	}
	for _, want := range []string{"of 50 (seed 1): bundle refused", "422 Unprocessable Entity", "Observation.status: missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	f.mu.Lock()
	sent := f.bundles
	f.mu.Unlock()
	if sent >= 50 {
		t.Errorf("all %d bundles sent despite the refusal, want the load to stop", sent)
	}
	noLeaks(t, before, c)
}

func TestLoadFailsWhenAnEntryFails(t *testing.T) {
	srv := newFake(t)
	// A transaction-response whose second entry failed.
	srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"resourceType":"Bundle","type":"transaction-response","entry":[` +
			`{"response":{"status":"201 Created","location":"Patient/1/_history/1"}},{"response":{"status":"400 Bad Request"}}]}`))
	})
	c, _ := newClient(srv.base, 1, 5*time.Second)
	defer c.close()
	_, _, err := loadPatients(context.Background(), c, synth.Options{Seed: 1, Patients: 1, Start: synthStart}, 1)
	if err == nil || !strings.Contains(err.Error(), "entry 1: 400 Bad Request") {
		t.Errorf("got %v", err)
	}
}
