package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// TestAuthorizationErrorsInfernoChecks: the error cases the ONC and SMART
// test kits try, each on a fresh launch.
func TestAuthorizationErrorsInfernoChecks(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	conf := s.oauthConfig("launch/patient openid fhirUser patient/*.rs")
	aud := oauth2.SetAuthURLParam("aud", s.base+"/fhir")

	// A code obtained with this verifier, exchanged with a broken one.
	codeFor := func(t *testing.T, verifier string) string {
		t.Helper()
		loc := authorizeApp(t, browser(t), conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), aud), []string{"patient/*.rs"})
		code := loc.Query().Get("code")
		if code == "" {
			t.Fatalf("no code: %s", loc)
		}
		return code
	}
	exchange := func(code string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "client_id": {"app"}}
		for k, v := range extra {
			form[k] = v
		}
		status, body, hdr := postForm(t, s.Main, "/oauth/token", form, nil)
		if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Pragma") != "no-cache" {
			t.Errorf("error response headers: %v", hdr)
		}
		return status, body
	}
	verifier := oauth2.GenerateVerifier()
	for _, c := range []struct {
		name  string
		extra url.Values
	}{
		{"verifier missing → 400", url.Values{}},
		{"verifier blank → 400", url.Values{"code_verifier": {""}}},
		{"verifier wrong → 400", url.Values{"code_verifier": {oauth2.GenerateVerifier()}}},
		{"verifier equal to the challenge → 400", url.Values{"code_verifier": {oauth2.S256ChallengeFromVerifier(verifier)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if status, body := exchange(codeFor(t, verifier), c.extra); status != 400 {
				t.Errorf("%d %v", status, body)
			}
		})
	}
	t.Run("bad code → 400", func(t *testing.T) {
		if status, body := exchange("BAD_CODE", url.Values{"code_verifier": {verifier}}); status != 400 {
			t.Errorf("%d %v", status, body)
		}
	})
	t.Run("bad grant_type → 400", func(t *testing.T) {
		status, body, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"not_a_grant_type"}, "client_id": {"app"}}, nil)
		if status != 400 {
			t.Errorf("%d %v", status, body)
		}
	})
	t.Run("code used twice → 400 the second time", func(t *testing.T) {
		code := codeFor(t, verifier)
		if status, _ := exchange(code, url.Values{"code_verifier": {verifier}}); status != 200 {
			t.Fatalf("first exchange: %d", status)
		}
		if status, _ := exchange(code, url.Values{"code_verifier": {verifier}}); status != 400 {
			t.Errorf("second exchange: %d", status)
		}
	})
	t.Run("an oversized token request → 413", func(t *testing.T) {
		status, _, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {strings.Repeat("x", 100<<10)}}, nil)
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("%d", status)
		}
	})
	t.Run("random refresh token → 400", func(t *testing.T) {
		status, _, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nonsense.token"}, "client_id": {"app"}}, nil)
		if status != 400 && status != 401 {
			t.Errorf("%d", status)
		}
	})

	// Authorize requests that must not yield a code.
	noCode := func(t *testing.T, authURL string) {
		t.Helper()
		resp, err := browser(t).Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if loc, err := resp.Location(); err == nil && loc.Query().Get("code") != "" {
			t.Fatalf("a code was issued: %s", loc)
		}
		if resp.StatusCode == 200 && strings.Contains(resp.Request.URL.Path, "/oauth/login") {
			t.Fatalf("the request reached the login page")
		}
	}
	t.Run("wrong aud → no code", func(t *testing.T) {
		noCode(t, conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", "https://inferno.healthit.gov/invalid_aud")))
	})
	t.Run("no aud → no code", func(t *testing.T) {
		noCode(t, conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier)))
	})
	t.Run("no PKCE → no code", func(t *testing.T) {
		noCode(t, conf.AuthCodeURL("state-12345678", aud))
	})
	t.Run("plain PKCE → no code", func(t *testing.T) {
		noCode(t, conf.AuthCodeURL("state-12345678", aud, oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")))
	})
	t.Run("unregistered redirect URI → no redirect at all", func(t *testing.T) {
		bad := *conf
		bad.RedirectURL = "https://evil.example/cb"
		resp, err := browser(t).Get(bad.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), aud))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if loc, _ := resp.Location(); loc != nil && strings.HasPrefix(loc.String(), "https://evil.example") {
			t.Fatalf("redirected to an unregistered URI: %s", loc)
		}
		if resp.StatusCode < 400 {
			t.Errorf("status %d, want an error", resp.StatusCode)
		}
	})
	t.Run("user denies → access_denied, no code", func(t *testing.T) {
		b := browser(t)
		resp, body := signIn(t, b, conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), aud), "ann", "correct horse battery")
		resp, err := b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"deny"}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		loc, err := resp.Location()
		if err != nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
			t.Fatalf("deny: %d %v", resp.StatusCode, loc)
		}
	})
	t.Run("wrong password → same page, no session", func(t *testing.T) {
		resp, body := signIn(t, browser(t), conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), aud), "ann", "wrong password")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "do not match") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		_, unknown := signIn(t, browser(t), conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), aud), "nobody", "wrong password")
		values := regexp.MustCompile(`value="[^"]*"`)
		strip := func(page string) string { return values.ReplaceAllString(page, "") }
		if strip(strings.ReplaceAll(unknown, "nobody", "ann")) != strip(body) {
			t.Error("an unknown username reads differently from a wrong password")
		}
	})
	t.Run("repeated wrong passwords → 429 and a plain request to wait", func(t *testing.T) {
		var resp *http.Response
		var body string
		for range 6 {
			resp, body = signIn(t, browser(t), conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), aud), "guessme", "wrong password")
		}
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Wait a few minutes") {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("login form without its CSRF token → refused", func(t *testing.T) {
		resp, err := browser(t).PostForm(s.base+"/oauth/login", url.Values{"username": {"ann"}, "password": {"correct horse battery"}, "next": {"/oauth/signed-in"}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != 400 {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	_ = ctx
}

// TestEHRLaunch: a signed-in oncologist launches the app for a patient;
// the app's authorize request carries launch and gets that patient.
func TestEHRLaunch(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	addUser(t, s.Main, "dr-who", "oncologist", "", "a long passphrase")
	if _, err := s.ensureResource(ctx, "Encounter", "enc-a", `{"resourceType":"Encounter","id":"enc-a","status":"finished",`+
		`"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/pat-a"}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ensureResource(ctx, "Encounter", "enc-b", `{"resourceType":"Encounter","id":"enc-b","status":"in-progress",`+
		`"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/pat-b"}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "ehr-app", Name: "EHR app", Type: oauth.ClientPublic,
		RedirectURIs: []string{appRedirect}, LaunchURI: "http://localhost:8000/launch",
		Scopes: strings.Fields("launch openid fhirUser patient/*.rs")}); err != nil {
		t.Fatal(err)
	}
	jar := browser(t)
	jar.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), "http://localhost:8000/") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	// Not signed in: the launch asks for the login first, then for a
	// confirmation whose form creates the launch.
	resp, err := jar.Get(s.base + "/oauth/ehr-launch?client=ehr-app&patient=pat-b")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	resp, err = jar.PostForm(s.base+"/oauth/login", url.Values{"csrf": {pageCSRF(t, body)},
		"next": {resp.Request.URL.Query().Get("next")}, "username": {"dr-who"}, "password": {"a long passphrase"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = answerCode(t, jar, resp, readAll(t, resp), "dr-who")
	if resp.StatusCode != 200 || !strings.Contains(body, "Open EHR app?") || !strings.Contains(body, "Ben Brown") {
		t.Fatalf("confirmation page: %d\n%s", resp.StatusCode, body)
	}
	launchForm := url.Values{"csrf": {pageCSRF(t, body)}, "client": {"ehr-app"}, "patient": {"pat-b"}, "encounter": {"enc-b"}}
	for name, form := range map[string]url.Values{
		"without the form token":           {"client": {"ehr-app"}, "patient": {"pat-b"}},
		"with another patient's encounter": {"csrf": launchForm["csrf"], "client": {"ehr-app"}, "patient": {"pat-b"}, "encounter": {"enc-a"}},
	} {
		r, err := jar.PostForm(s.base+"/oauth/ehr-launch", form)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, r)
		if l, _ := r.Location(); l != nil || r.StatusCode < 400 {
			t.Errorf("launch %s: %d %v", name, r.StatusCode, l)
		}
	}
	resp, err = jar.PostForm(s.base+"/oauth/ehr-launch", launchForm)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("iss") != s.base+"/fhir" || loc.Query().Get("launch") == "" {
		t.Fatalf("launch redirect: %d %v", resp.StatusCode, loc)
	}
	conf := &oauth2.Config{ClientID: "ehr-app", RedirectURL: appRedirect, Scopes: strings.Fields("launch openid fhirUser patient/*.rs"),
		Endpoint: oauth2.Endpoint{AuthURL: s.base + "/oauth/authorize", TokenURL: s.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", loc.Query().Get("iss")), oauth2.SetAuthURLParam("launch", loc.Query().Get("launch")))
	// Another staff member cannot use this launch, by page or by form.
	addUser(t, s.Main, "dr-two", "oncologist", "", "another passphrase")
	other := browser(t)
	resp, body = signIn(t, other, authURL, "dr-two", "another passphrase")
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "Allow EHR app") {
		t.Fatalf("another user's launch: %d", resp.StatusCode)
	}
	loginPage, err := other.Get(s.base + "/oauth/login")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = other.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, readAll(t, loginPage))}, "action": {"grant"}, "scope": {"patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusForbidden || loc != nil {
		t.Fatalf("another user's launch, form posted: %d %v", resp.StatusCode, loc)
	}
	resp, err = jar.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if !strings.Contains(body, "Brown") {
		t.Fatalf("authorization page should name the launched patient:\n%s", body)
	}
	resp, err = jar.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": {"patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	cb, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect: %d", resp.StatusCode)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != "pat-b" || tok.Extra("encounter") != "enc-b" || tok.Extra("need_patient_banner") != false {
		t.Errorf("patient %v, encounter %v, banner %v", tok.Extra("patient"), tok.Extra("encounter"), tok.Extra("need_patient_banner"))
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-b", tok.AccessToken); status != 200 {
		t.Errorf("read the launched patient: %d", status)
	}
	// The launch was used; it cannot bind a second authorization.
	resp, err = jar.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if l, err := resp.Location(); err != nil || l.Query().Get("error") == "" {
		t.Errorf("reused launch: %d %v", resp.StatusCode, l)
	}
	// A patient cannot create launches.
	b := browser(t)
	resp, body = signIn(t, b, s.base+"/oauth/ehr-launch?client=ehr-app&patient=pat-b", "ann", "correct horse battery")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("patient launching: %d", resp.StatusCode)
	}
}
