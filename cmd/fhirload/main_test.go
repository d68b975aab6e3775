package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/oncofhir/oncofhir/cmd/fhirbench/backendauth"
)

// fakeServer asks for the bearer "tok" on every FHIR request and gives
// it to any client assertion signed by an ES384 key (the fhirbench tests
// check assertions in full).
func fakeServer(t *testing.T, bearers *atomic.Int64) *httptest.Server {
	return slowServer(t, bearers, 0)
}

// slowServer is fakeServer taking delay over each read.
func slowServer(t *testing.T, bearers *atomic.Int64, delay time.Duration) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/fhir/.well-known/smart-configuration":
			json.NewEncoder(w).Encode(map[string]string{"token_endpoint": srv.URL + "/oauth/token"})
			return
		case "/oauth/token":
			r.ParseForm()
			if _, err := jose.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES384}); err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"invalid_client"}`))
				return
			}
			w.Write([]byte(`{"access_token":"tok","token_type":"Bearer","expires_in":300}`))
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"an access token is required"}]}`))
			return
		}
		bearers.Add(1)
		if strings.HasSuffix(r.URL.Path, "/_history") {
			w.Write([]byte(`{"resourceType":"Bundle","type":"history","entry":[{"resource":{"id":"a"}},{"resource":{"id":"b"}}]}`))
			return
		}
		time.Sleep(delay)
		w.Write([]byte(`{"resourceType":"Patient","id":"a"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReadsCarryTheBearerOfTheBackendClient(t *testing.T) {
	var bearers atomic.Int64
	srv := fakeServer(t, &bearers)
	keyFile := testKeyFile(t)
	var out strings.Builder
	o := options{base: srv.URL + "/fhir", typ: "Patient", clients: 2, dur: 5 * time.Second, max: 10,
		clientID: "fhirbench", keyFile: keyFile, scope: "system/*.rs"}
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "10 reads of 2 Patient") || strings.Contains(out.String(), "tok") {
		t.Errorf("output %q", out.String())
	}
	if bearers.Load() != 11 {
		t.Errorf("%d requests with the bearer, want the history and 10 reads", bearers.Load())
	}
}

func TestA401WithoutAClientSaysHowToRegister(t *testing.T) {
	var bearers atomic.Int64
	srv := fakeServer(t, &bearers)
	o := options{base: srv.URL + "/fhir", typ: "Patient", clients: 2, dur: 5 * time.Second, max: 10}
	err := run(context.Background(), o, new(strings.Builder))
	for _, want := range []string{"401 Unauthorized", "fhirserver client add --id fhirbench --type backend", "go run ./cmd/fhirload -client fhirbench -key bench.key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// With -compare it measures both servers in turn, each with its own
// token, and prints their ratio.
func TestCompareMeasuresBothServersInTurn(t *testing.T) {
	var a, b atomic.Int64
	slow, fast := slowServer(t, &a, 5*time.Millisecond), fakeServer(t, &b)
	keyFile := testKeyFile(t)
	var out strings.Builder
	o := options{base: slow.URL + "/fhir", compare: fast.URL + "/fhir", rounds: 2, typ: "Patient", clients: 2,
		dur: 200 * time.Millisecond, max: 1 << 30, clientID: "fhirbench", keyFile: keyFile, scope: "system/*.rs"}
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"round 1, " + slow.URL, "round 1, " + fast.URL, "round 2, " + slow.URL, "round 2, " + fast.URL,
		"% less throughput than the second (ratio 0."} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if a.Load() == 0 || b.Load() == 0 {
		t.Errorf("requests: %d to one, %d to the other", a.Load(), b.Load())
	}
}

// testKeyFile writes a new ES384 client key and answers its path.
func testKeyFile(t *testing.T) string {
	t.Helper()
	key, err := backendauth.GenerateKey(jose.ES384)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := key.PrivatePEM()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "bench.key")
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile
}
