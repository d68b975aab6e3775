package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

const appRedirect = "http://localhost:8000/callback"

// smartServer runs the real wiring on a port known before start, so the
// base URL (the SMART aud and issuer) is the address clients use.
type smartServer struct {
	*Main
	base string // http://localhost:PORT
}

func startSMART(t *testing.T) *smartServer {
	t.Helper()
	return startSMARTWith(t, nil)
}

// startSMARTWith is startSMART with configure applied to the
// configuration first.
func startSMARTWith(t *testing.T, configure func(*Config)) *smartServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	cfg := testConfig(t.TempDir())
	cfg.BaseURL = base
	if configure != nil {
		configure(&cfg)
	}
	m := &Main{Config: cfg, Logger: quiet(), Listener: ln}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	for _, r := range []struct{ typ, id, body string }{
		{"Patient", "pat-a", `{"resourceType":"Patient","id":"pat-a","name":[{"family":"Abbott","given":["Ann"]}]}`},
		{"Patient", "pat-b", `{"resourceType":"Patient","id":"pat-b","name":[{"family":"Brown","given":["Ben"]}]}`},
		{"Observation", "obs-a", `{"resourceType":"Observation","id":"obs-a","status":"final","code":{"text":"Hb"},"subject":{"reference":"Patient/pat-a"}}`},
		{"Observation", "obs-b", `{"resourceType":"Observation","id":"obs-b","status":"final","code":{"text":"Hb"},"subject":{"reference":"Patient/pat-b"}}`},
	} {
		if _, err := m.ensureResource(ctx, r.typ, r.id, r.body); err != nil {
			t.Fatal(err)
		}
	}
	trackServer(m)
	addUser(t, m, "ann", "patient", "Patient/pat-a", "correct horse battery")
	if _, err := m.OAuth.Clients().Add(ctx, &oauth.Client{ID: "app", Name: "Test app", Type: oauth.ClientPublic,
		RedirectURIs: []string{appRedirect},
		Scopes:       strings.Fields("launch/patient openid fhirUser offline_access patient/*.cruds patient/*.read")}); err != nil {
		t.Fatal(err)
	}
	return &smartServer{Main: m, base: base}
}

func (s *smartServer) oauthConfig(scopes string) *oauth2.Config {
	return &oauth2.Config{ClientID: "app", RedirectURL: appRedirect, Scopes: strings.Fields(scopes),
		Endpoint: oauth2.Endpoint{AuthURL: s.base + "/oauth/authorize", TokenURL: s.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
}

// browser is a cookie-keeping client that stops at the app's redirect URI.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), appRedirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func pageCSRF(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", body)
	}
	return m[1]
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// signIn follows an authorize URL through the login page and, when asked
// for it, the second factor's code (answerCode), returning the page that
// follows (the authorization page's response, for a launch).
func signIn(t *testing.T, b *http.Client, authURL, user, password string) (*http.Response, string) {
	t.Helper()
	resp, body := signInPassword(t, b, authURL, user, password)
	return answerCode(t, b, resp, body, user)
}

// signInPassword follows an authorize URL through the login page and
// stops at the page after the password (the code page, for an account
// with a second factor).
func signInPassword(t *testing.T, b *http.Client, authURL, user, password string) (*http.Response, string) {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `action="/oauth/login"`) {
		t.Fatalf("expected the login page, got %d %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	next := resp.Request.URL.Query().Get("next")
	resp, err = b.PostForm(resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/oauth/login", url.Values{
		"csrf": {pageCSRF(t, body)}, "next": {next}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// authorizeApp signs in and grants the scopes kept; it returns the
// redirect to the app.
func authorizeApp(t *testing.T, b *http.Client, authURL string, keep []string) *url.URL {
	t.Helper()
	resp, body := signIn(t, b, authURL, "ann", "correct horse battery")
	if resp.StatusCode != 200 || !strings.Contains(body, "Allow Test app") {
		t.Fatalf("expected the authorization page, got %d:\n%s", resp.StatusCode, body)
	}
	form := url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": keep}
	resp, err := b.PostForm(resp.Request.URL.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect to the app: %d", resp.StatusCode)
	}
	return loc
}

func fhirGet(t *testing.T, base, path, token string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/fhir"+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header
}

// TestStandaloneLaunch drives a SMART standalone launch with
// golang.org/x/oauth2 and go-oidc: PKCE, login, authorization page with
// a scope left out, code exchange, id_token verification, a read in
// patient context, refresh with a narrower scope, revocation.
func TestStandaloneLaunch(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	conf := s.oauthConfig("launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs")
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir"))

	loc := authorizeApp(t, browser(t), authURL, []string{"offline_access", "patient/Patient.rs", "patient/Observation.rs"})
	if loc.Query().Get("state") != "state-12345678" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s: want code and the state back", loc)
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != "pat-a" {
		t.Errorf("patient = %v, want pat-a", tok.Extra("patient"))
	}
	if scope, _ := tok.Extra("scope").(string); !strings.Contains(scope, "patient/Observation.rs") || tok.RefreshToken == "" {
		t.Errorf("scope %q, refresh token %q", scope, tok.RefreshToken)
	}
	if exp, ok := tok.Extra("expires_in").(float64); !ok || exp <= 0 || exp > 3600 {
		t.Errorf("expires_in = %v", tok.Extra("expires_in"))
	}
	if _, ok := tok.Extra("need_patient_banner").(bool); !ok {
		t.Error("need_patient_banner missing")
	}

	provider, err := oidc.NewProvider(ctx, s.base+"/fhir")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	var claims struct {
		FHIRUser string `json:"fhirUser"`
	}
	idt.Claims(&claims)
	if claims.FHIRUser != s.base+"/fhir/Patient/pat-a" {
		t.Errorf("fhirUser = %q", claims.FHIRUser)
	}

	if status, body, _ := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken); status != 200 || body["id"] != "pat-a" {
		t.Fatalf("read own Patient: %d %v", status, body)
	}

	// Refresh asking for less: the new token carries only that.
	status, body, hdr := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok.RefreshToken}, "client_id": {"app"}, "scope": {"patient/Patient.rs offline_access"}}, nil)
	if status != 200 || body["scope"] != "patient/Patient.rs offline_access" {
		t.Fatalf("narrowed refresh: %d %v", status, body)
	}
	if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Pragma") != "no-cache" {
		t.Errorf("token response headers: %v", hdr)
	}
	narrowed := body["access_token"].(string)
	if status, _, _ := fhirGet(t, s.base, "/Observation?patient=pat-a", narrowed); status != http.StatusForbidden {
		t.Errorf("search Observation after narrowing away its scope: %d, want 403", status)
	}
	// Asking for more than was granted is refused.
	if status, _, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {body["refresh_token"].(string)}, "client_id": {"app"}, "scope": {"patient/*.cruds"}}, nil); status != 400 {
		t.Errorf("refresh widening the scope: %d, want 400", status)
	}
	// The first refresh token was used once; using it again revokes the grant.
	if status, _, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, nil); status != 400 {
		t.Errorf("reused refresh token: %d, want 400", status)
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", narrowed); status != 401 {
		t.Errorf("token of a grant revoked by refresh reuse: %d, want 401", status)
	}
}

// TestRevokedTokenFailsAtOnce: RFC 7009 revocation, then the next FHIR
// request answers 401 with the RFC 6750 challenge.
func TestRevokedTokenFailsAtOnce(t *testing.T) {
	s := startSMART(t)
	tok := s.launch(t, "launch/patient openid fhirUser patient/*.rs")
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken); status != 200 {
		t.Fatalf("before revocation: %d", status)
	}
	if status, _, _ := postForm(t, s.Main, "/oauth/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {"app"}}, nil); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	status, _, hdr := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken)
	if status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("after revocation: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
}

// launch runs a standalone launch granting everything requested.
func (s *smartServer) launch(t *testing.T, scopes string) *oauth2.Token {
	t.Helper()
	conf := s.oauthConfig(scopes)
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir"))
	var keep []string
	for _, sc := range strings.Fields(scopes) {
		if strings.Contains(sc, "/") && !strings.HasPrefix(sc, "launch") || sc == "offline_access" {
			keep = append(keep, sc)
		}
	}
	loc := authorizeApp(t, browser(t), authURL, keep)
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBackendServices: client_credentials with an RS384 assertion signed
// by go-jose; short token, no refresh token, and the checks on the
// assertion.
func TestBackendServices(t *testing.T) {
	s := startSMART(t)
	registerBackend(t, s.Main, "bulk", "system/*.rs")
	tokenURL := s.OAuth.Endpoints().Token
	form := func(assertion string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.rs"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	}
	good := signAssertion(t, backendKey(), "k1", jose.RS384, "bulk", tokenURL, "jti-1", time.Now().Add(4*time.Minute))
	status, body, _ := postForm(t, s.Main, "/oauth/token", form(good), nil)
	if status != 200 || body["access_token"] == nil || body["refresh_token"] != nil {
		t.Fatalf("backend token: %d %v", status, body)
	}
	if exp, _ := body["expires_in"].(float64); exp <= 0 || exp > 300 {
		t.Errorf("expires_in = %v, want at most 300", body["expires_in"])
	}
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-b", body["access_token"].(string)); status != 200 {
		t.Errorf("system read: %d", status)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, c := range []struct {
		name string
		form url.Values
	}{
		{"replayed jti → refused", form(good)},
		{"assertion for another audience → refused", form(signAssertion(t, backendKey(), "k1", jose.RS384, "bulk", "https://elsewhere.example/token", "jti-2", time.Now().Add(4*time.Minute)))},
		{"assertion living more than five minutes → refused", form(signAssertion(t, backendKey(), "k1", jose.RS384, "bulk", tokenURL, "jti-3", time.Now().Add(time.Hour)))},
		{"assertion signed by another key → refused", form(signAssertion(t, other, "k1", jose.RS384, "bulk", tokenURL, "jti-4", time.Now().Add(4*time.Minute)))},
		{"RS256 assertion → refused", form(signAssertion(t, backendKey(), "k1", jose.RS256, "bulk", tokenURL, "jti-5", time.Now().Add(4*time.Minute)))},
		{"expired assertion → refused", form(signAssertion(t, backendKey(), "k1", jose.RS384, "bulk", tokenURL, "jti-6", time.Now().Add(-5*time.Minute)))},
	} {
		if status, body, _ := postForm(t, s.Main, "/oauth/token", c.form, nil); status != 401 && status != 400 {
			t.Errorf("%s: %d %v", c.name, status, body)
		}
	}
	bad := form(good)
	bad.Set("client_assertion_type", "not_an_assertion_type")
	if status, _, _ := postForm(t, s.Main, "/oauth/token", bad, nil); status != 400 {
		t.Errorf("unknown client_assertion_type: %d, want 400", status)
	}
	wide := form(signAssertion(t, backendKey(), "k1", jose.RS384, "bulk", s.OAuth.Endpoints().Issuer, "jti-7", time.Now().Add(4*time.Minute)))
	wide.Set("scope", "system/Observation.cruds")
	if status, _, _ := postForm(t, s.Main, "/oauth/token", wide, nil); status != 400 {
		t.Errorf("scope beyond the registration: %d, want 400", status)
	}
}

// TestOnlineAccessEndsWithTheSession: an online_access refresh token
// works while the user's sign-in session lives and fails once they sign
// out.
func TestOnlineAccessEndsWithTheSession(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	if _, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "online", Name: "Online app", Type: oauth.ClientPublic,
		RedirectURIs: []string{appRedirect}, Scopes: strings.Fields("launch/patient openid fhirUser online_access patient/*.rs")}); err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig("launch/patient online_access patient/*.rs")
	conf.ClientID = "online"
	verifier := oauth2.GenerateVerifier()
	b := browser(t)
	resp, body := signIn(t, b, conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir")), "ann", "correct horse battery")
	resp, err := b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": {"online_access", "patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v, refresh token %q", err, tok.RefreshToken)
	}
	refresh := func(rt string) (int, map[string]any) {
		status, body, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"online"}}, nil)
		return status, body
	}
	status, next := refresh(tok.RefreshToken)
	if status != 200 {
		t.Fatalf("refresh while signed in: %d %v", status, next)
	}
	// Sign out (the signed-in page carries the form token of this browser).
	page, err := b.Get(s.base + "/oauth/signed-in")
	if err != nil {
		t.Fatal(err)
	}
	csrf := pageCSRF(t, readAll(t, page))
	out, err := b.PostForm(s.base+"/oauth/logout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, out)
	if out.StatusCode != 200 {
		t.Fatalf("logout: %d", out.StatusCode)
	}
	if status, body := refresh(next["refresh_token"].(string)); status != 400 {
		t.Errorf("refresh after signing out: %d %v, want 400", status, body)
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", next["access_token"].(string)); status != 401 {
		t.Errorf("online_access token after signing out: %d, want 401", status)
	}
}

// TestSignOutEverywhere: from one browser, every session of the account
// and every token its apps hold end at once.
func TestSignOutEverywhere(t *testing.T) {
	s := startSMART(t)
	tok := s.launch(t, "launch/patient offline_access patient/*.rs")
	other := browser(t)
	signIn(t, other, s.base+"/oauth/login?next=/oauth/signed-in", "ann", "correct horse battery")
	b := browser(t)
	_, body := signIn(t, b, s.base+"/oauth/login?next=/oauth/signed-in", "ann", "correct horse battery")
	resp, err := b.PostForm(s.base+"/oauth/logout-everywhere", url.Values{"csrf": {pageCSRF(t, body)}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "signed out everywhere") {
		t.Fatalf("%d\n%s", resp.StatusCode, body)
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken); status != 401 {
		t.Errorf("an app's token after signing out everywhere: %d", status)
	}
	if status, _, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, nil); status != 400 {
		t.Errorf("refresh after signing out everywhere: %d", status)
	}
	r, err := other.Get(s.base + "/oauth/signed-in")
	if err != nil {
		t.Fatal(err)
	}
	if page := readAll(t, r); !strings.Contains(page, `action="/oauth/login"`) {
		t.Errorf("the other browser is still signed in")
	}
}
