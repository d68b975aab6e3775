package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeAuth is the SMART side of the fake: a smart-configuration, a token
// endpoint that checks client assertions the way SMART Backend Services
// asks, and a bearer check in front of every other FHIR request. Tokens
// and assertions are judged by now, which the tool under test may share.
type fakeAuth struct {
	clientID string
	keys     jose.JSONWebKeySet // the client's registered public keys
	tokenURL string             // what smart-configuration announces
	scope    string             // the scope a token request must ask for
	life     time.Duration      // expires_in of the tokens it issues
	delay    time.Duration      // how long the token endpoint takes
	now      func() time.Time

	mu       sync.Mutex
	jtis     map[string]bool
	tokens   map[string]time.Time // token → expiry
	issued   []string
	problems []string // what was wrong with refused assertions
	served   int      // FHIR requests with a valid token
	refused  int      // FHIR requests answered 401
	last     string   // the token of the last FHIR request served
	revoked  bool
}

// withAuth makes f ask for the tokens of client id, whose public JWKS is
// in the file jwksPath.
func withAuth(t *testing.T, f *fakeFHIR, id, jwksPath string, life time.Duration, now func() time.Time) *fakeAuth {
	t.Helper()
	raw, err := os.ReadFile(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAuth{clientID: id, tokenURL: f.srv.URL + "/oauth/token", scope: "system/*.cruds", life: life, now: now,
		jtis: map[string]bool{}, tokens: map[string]time.Time{}}
	if err := json.Unmarshal(raw, &a.keys); err != nil {
		t.Fatal(err)
	}
	f.auth = a
	return a
}

// answered answers discovery and token requests, and FHIR requests
// without a valid token; it leaves the rest to the FHIR fake.
func (a *fakeAuth) answered(f *fakeFHIR, w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/fhir/.well-known/smart-configuration":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(obj{"token_endpoint": a.tokenURL, "token_endpoint_auth_methods_supported": []string{"private_key_jwt"}})
		return true
	case "/oauth/token":
		a.token(w, r)
		return true
	}
	tok, hasToken := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.Lock()
	exp, known := a.tokens[tok]
	ok := hasToken && known && a.now().Before(exp) && !a.revoked
	if ok {
		a.served, a.last = a.served+1, tok
	} else {
		a.refused++
	}
	a.mu.Unlock()
	if ok {
		return false
	}
	desc := "an access token is required"
	if hasToken {
		desc = "the access token is invalid, expired or revoked"
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+f.base+`", error="invalid_token", error_description="`+desc+`"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+f.base+`"`)
	}
	f.write(w, http.StatusUnauthorized, obj{"resourceType": "OperationOutcome", "issue": []obj{{"severity": "error", "code": "login", "diagnostics": desc}}})
	return true
}

func (a *fakeAuth) token(w http.ResponseWriter, r *http.Request) {
	time.Sleep(a.delay)
	w.Header().Set("Content-Type", "application/json")
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(obj{"error": "invalid_request"})
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if problem := a.check(r.PostForm); problem != "" {
		a.problems = append(a.problems, problem)
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(obj{"error": "invalid_client", "error_description": problem})
		return
	}
	tok := fmt.Sprintf("tok%d-%s", len(a.issued)+1, rand.Text())
	a.tokens[tok] = a.now().Add(a.life)
	a.issued = append(a.issued, tok)
	json.NewEncoder(w).Encode(obj{"access_token": tok, "token_type": "bearer", "expires_in": int(a.life / time.Second), "scope": a.scope})
}

// check judges a token request as the server does, saying what is wrong
// with it, or "".
func (a *fakeAuth) check(form url.Values) string {
	switch {
	case form.Get("grant_type") != "client_credentials":
		return "grant_type " + form.Get("grant_type")
	case form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		return "client_assertion_type " + form.Get("client_assertion_type")
	case form.Get("scope") != a.scope:
		return "scope " + form.Get("scope")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES384, jose.RS384})
	if err != nil || len(tok.Headers) != 1 {
		return fmt.Sprintf("not a JWT signed ES384 or RS384: %v", err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		return fmt.Sprintf("typ %q", typ)
	}
	keys := a.keys.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		return fmt.Sprintf("kid %q names no registered key", h.KeyID)
	}
	if keys[0].Algorithm != h.Algorithm {
		return fmt.Sprintf("alg %s, the key is registered for %s", h.Algorithm, keys[0].Algorithm)
	}
	var c jwt.Claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return "signature: " + err.Error()
	}
	now := a.now()
	switch {
	case c.Issuer != a.clientID || c.Subject != a.clientID:
		return fmt.Sprintf("iss %q, sub %q, want the client id %q", c.Issuer, c.Subject, a.clientID)
	case len(c.Audience) != 1 || c.Audience[0] != a.tokenURL:
		return fmt.Sprintf("aud %q, want the token URL %s", c.Audience, a.tokenURL)
	case c.Expiry == nil || !c.Expiry.Time().After(now):
		return "no exp, or exp passed"
	case c.Expiry.Time().After(now.Add(5 * time.Minute)):
		return fmt.Sprintf("exp %s is more than five minutes after %s", c.Expiry.Time(), now)
	case c.ID == "":
		return "no jti"
	case a.jtis[c.ID]:
		return "jti " + c.ID + " used before"
	}
	a.jtis[c.ID] = true
	return ""
}

// counts reads what the fake saw: tokens issued, refused assertions, FHIR
// requests served and refused, the token of the last one served.
func (a *fakeAuth) counts() (issued []string, problems []string, served, refused int, last string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.issued...), append([]string(nil), a.problems...), a.served, a.refused, a.last
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rsaFiles writes an RSA key in PKCS #1, the form openssl's older tools
// write, and a JWKS for it made here, with the RFC 7638 thumbprint as kid.
func rsaFiles(t *testing.T) (keyPath, jwksPath string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath, jwksPath = filepath.Join(dir, "rsa.key"), filepath.Join(dir, "rsa.jwks.json")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	pub := jose.JSONWebKey{Key: &k.PublicKey}
	sum, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub.KeyID, pub.Algorithm, pub.Use = base64.RawURLEncoding.EncodeToString(sum), "RS384", "sig"
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err := os.WriteFile(keyPath, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jwksPath, jwks, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath, jwksPath
}

func TestRunAsABackendClientSendsTheBearerAndNeverPrintsIt(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files func(*testing.T) (string, string)
	}{
		{"ES384 key from keygen", keygenFiles},
		{"RS384 key in PKCS #1", rsaFiles},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			keyPath, jwksPath := tt.files(t)
			a := withAuth(t, f, "fhirbench", jwksPath, 300*time.Second, time.Now)
			var out, errOut strings.Builder
			cfg, err := parseFlags([]string{"-base", f.base, "-client", "fhirbench", "-key", keyPath,
				"-patients", "3", "-c", "2", "-d", "5s", "-n", "6", "-scenarios", "read,search-obs,create"}, &errOut)
			if err != nil {
				t.Fatal(err)
			}
			if err := run(context.Background(), cfg, &out, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			issued, problems, served, refused, _ := a.counts()
			if len(problems) > 0 || len(issued) != 1 {
				t.Fatalf("%d tokens issued; assertions refused: %q", len(issued), problems)
			}
			if refused != 0 || served != 3+6+6+6 {
				t.Errorf("%d FHIR requests served with a token, %d refused; want 3 bundles and 6 of each scenario, none refused", served, refused)
			}
			key, _ := os.ReadFile(keyPath)
			printed := out.String() + errOut.String()
			if strings.Contains(printed, issued[0]) || strings.Contains(printed, strings.Split(string(key), "\n")[1]) {
				t.Errorf("the output shows the token or the key:\n%s", printed)
			}
		})
	}
}

func TestTokenIsRenewedBeforeItExpires(t *testing.T) {
	for _, tt := range []struct {
		life, renewAt time.Duration // renewed when less than a minute, or half the life, remains
	}{
		{300 * time.Second, 240 * time.Second},
		{30 * time.Second, 15 * time.Second},
	} {
		t.Run(tt.life.String(), func(t *testing.T) {
			f := newFake(t)
			f.patients, f.families = []string{"p1"}, []string{"Dunmore17"}
			keyPath, jwksPath := keygenFiles(t)
			clock := newClock()
			a := withAuth(t, f, "fhirbench", jwksPath, tt.life, clock.Now)
			c, _ := newClient(f.base, 4, 5*time.Second)
			defer c.close()
			if err := c.authenticate(context.Background(), authConfig{clientID: "fhirbench", keyFile: keyPath, scope: "system/*.cruds", now: clock.Now}); err != nil {
				t.Fatal(err)
			}
			step := func(d time.Duration, wantIssued int) {
				t.Helper()
				clock.Add(d)
				if _, err := collectPatients(context.Background(), c); err != nil {
					t.Fatalf("after %s more: %v", d, err)
				}
				issued, problems, _, refused, last := a.counts()
				if len(issued) != wantIssued || len(problems) > 0 || refused > 0 {
					t.Fatalf("after %s more: %d tokens issued, want %d; %d FHIR requests refused; assertions refused: %q",
						d, len(issued), wantIssued, refused, problems)
				}
				if last != issued[len(issued)-1] {
					t.Errorf("after %s more: the last request did not carry the newest token", d)
				}
			}
			step(0, 1)
			step(tt.renewAt-time.Second, 1) // not yet due
			step(2*time.Second, 2)          // renewed while the first still lasts
			step(tt.renewAt-2*time.Second, 2)
			step(3*time.Second, 3) // the second is due in its turn
		})
	}
}

func TestOneTokenRequestServesAllClients(t *testing.T) {
	f := newFake(t)
	keyPath, jwksPath := keygenFiles(t)
	clock := newClock()
	a := withAuth(t, f, "fhirbench", jwksPath, 300*time.Second, clock.Now)
	a.delay = 50 * time.Millisecond // callers pile up while it is under way
	c, _ := newClient(f.base, 8, 5*time.Second)
	defer c.close()
	if err := c.authenticate(context.Background(), authConfig{clientID: "fhirbench", keyFile: keyPath, scope: "system/*.cruds", now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	read := scenarios(c, &known{ids: []string{"a", "b"}, families: []string{"Am", "Du"}})["read"]
	for i, tt := range []struct {
		name string
		wait time.Duration
	}{
		{"renewal due, the old token lasts: one renews, the others go on", 250 * time.Second},
		{"the token has expired: one asks, the others wait for it", 400 * time.Second},
	} {
		clock.Add(tt.wait)
		res := bench(context.Background(), "read", "", bounds{clients: 8, dur: 10 * time.Second, max: 64}, read.op)
		issued, problems, _, _, _ := a.counts()
		if res.errors > 0 || res.requests != 64 || len(issued) != i+2 || len(problems) > 0 {
			t.Errorf("%s: %d ok, %d errors (first %v); %d tokens issued, want %d; refused assertions %q",
				tt.name, res.requests, res.errors, res.firstErr, len(issued), i+2, problems)
		}
	}
}

func TestA401StopsTheRunAndSaysHowToRegister(t *testing.T) {
	for _, load := range []bool{true, false} {
		f := newFake(t)
		f.patients, f.families = []string{"p1"}, []string{"Dunmore17"}
		_, jwksPath := keygenFiles(t)
		a := withAuth(t, f, "fhirbench", jwksPath, 300*time.Second, time.Now)
		cfg := config{base: f.base, patients: 50, seed: 1, clients: 2, dur: 5 * time.Second, load: load,
			scenarios: scenarioNames, timeout: 5 * time.Second}
		var out, errOut strings.Builder
		err := run(context.Background(), cfg, &out, &errOut)
		if err == nil {
			t.Fatalf("load=%v: no error", load)
		}
		for _, want := range []string{
			"401 Unauthorized",
			"go run ./cmd/fhirbench keygen -out bench",
			`fhirserver client add --id fhirbench --type backend --scope "system/*.cruds" --jwks-file bench.jwks.json`,
			"-client fhirbench -key bench.key",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("load=%v: the error does not say %q:\n%v", load, want, err)
			}
		}
		if _, _, _, refused, _ := a.counts(); refused > 2 {
			t.Errorf("load=%v: %d requests refused; want the run to stop at the first of each client", load, refused)
		}
	}
}

func TestARefusedTokenStopsTheScenario(t *testing.T) {
	f := newFake(t)
	keyPath, jwksPath := keygenFiles(t)
	a := withAuth(t, f, "fhirbench", jwksPath, 300*time.Second, time.Now)
	c, _ := newClient(f.base, 4, 5*time.Second)
	defer c.close()
	ac := authConfig{clientID: "fhirbench", keyFile: keyPath, scope: "system/*.cruds"}
	if err := c.authenticate(context.Background(), ac); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.revoked = true
	a.mu.Unlock()
	read := scenarios(c, &known{ids: []string{"a"}, families: []string{"Am"}})["read"]
	res := bench(context.Background(), "read", "", bounds{clients: 4, dur: time.Minute, max: 10_000}, read.op)
	if res.stop == nil || res.errors > 4 {
		t.Fatalf("stop %v after %d errors; want a stop at the first 401 of each client", res.stop, res.errors)
	}
	msg := explainAuth(res.stop, ac).Error()
	if !strings.Contains(msg, "refused the access token of client fhirbench") || !strings.Contains(msg, "invalid, expired or revoked") {
		t.Errorf("message %q", msg)
	}
}

func TestAClientTheServerDoesNotKnowStopsBeforeAnyFHIRRequest(t *testing.T) {
	f := newFake(t)
	keyPath, jwksPath := keygenFiles(t)
	a := withAuth(t, f, "someone-else", jwksPath, 300*time.Second, time.Now)
	cfg, err := parseFlags([]string{"-base", f.base, "-client", "fhirbench", "-key", keyPath, "-patients", "3"}, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = run(context.Background(), cfg, &out, &out)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"client fhirbench: getting an access token", "invalid_client", "registered with the public key of " + keyPath, "fhirserver client add"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if _, _, served, refused, _ := a.counts(); served+refused > 0 || f.requests.Load() > 0 {
		t.Errorf("%d FHIR requests sent", served+refused)
	}
}

func TestATokenEndpointOnAnotherHostIsRefused(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached the other host: %s %s", r.Method, r.URL)
	}))
	defer other.Close()
	f := newFake(t)
	keyPath, jwksPath := keygenFiles(t)
	a := withAuth(t, f, "fhirbench", jwksPath, 300*time.Second, time.Now)
	a.tokenURL = other.URL + "/oauth/token"
	c, _ := newClient(f.base, 1, 5*time.Second)
	defer c.close()
	err := c.authenticate(context.Background(), authConfig{clientID: "fhirbench", keyFile: keyPath, scope: "system/*.cruds"})
	if err == nil || !strings.Contains(err.Error(), "is not on "+f.srv.URL) {
		t.Errorf("got %v", err)
	}
}
