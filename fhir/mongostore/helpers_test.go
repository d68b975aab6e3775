package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore/ferrettest"
)

// openTest opens a store on a fresh database (FerretDB, or MONGO_TEST_URI)
// and closes it when the test ends.
func openTest(t testing.TB, o Options) (*Store, string) {
	t.Helper()
	uri := ferrettest.Start(t)
	return openURI(t, uri, o), uri
}

func openURI(t testing.TB, uri string, o Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenWith(ctx, uri, "", o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// patient builds version v of Patient/id, written at t0 + v minutes.
func patient(id string, v int, toks ...fhir.Token) *fhir.Resource {
	lu := t0.Add(time.Duration(v) * time.Minute)
	return &fhir.Resource{
		Type: "Patient", ID: id, Version: v, LastUpdated: lu, Method: "PUT",
		JSON:   []byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"meta":{"versionId":"%d"},"weight":1.50,"n":1e2}`, id, v)),
		Tokens: toks,
	}
}

func put(t testing.TB, s *Store, rs ...*fhir.Resource) {
	t.Helper()
	err := s.Write(context.Background(), func(tx fhir.Tx) error {
		for _, r := range rs {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func keys(rs []*fhir.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s/%d", r.Key(), r.Version)
	}
	return out
}

func sameKeys(t testing.TB, got []*fhir.Resource, want ...string) {
	t.Helper()
	g, _ := json.Marshal(keys(got))
	w, _ := json.Marshal(want)
	if want == nil {
		w = []byte("[]")
	}
	if string(g) != string(w) {
		t.Fatalf("got %s, want %s", g, w)
	}
}

func uriFromEnv() bool { return os.Getenv(ferrettest.EnvURI) != "" }
