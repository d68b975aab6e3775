package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestPatientContextFollowsTheUser: a caregiver gets the patient of their
// RelatedPerson; staff pick a patient on the picker page, found by name;
// a caregiver cannot pick someone else's patient.
func TestPatientContextFollowsTheUser(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	if _, err := s.ensureResource(ctx, "RelatedPerson", "rp-1",
		`{"resourceType":"RelatedPerson","id":"rp-1","patient":{"reference":"Patient/pat-a"},"name":[{"family":"Abbott","given":["Al"]}]}`); err != nil {
		t.Fatal(err)
	}
	addUser(t, s.Main, "al", "proxy", "RelatedPerson/rp-1", "caregiver passphrase")
	addUser(t, s.Main, "nurse-n", "nurse", "", "nurse passphrase")
	conf := s.oauthConfig("launch/patient openid fhirUser patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir"))

	t.Run("caregiver → their patient, no picker", func(t *testing.T) {
		resp, body := signIn(t, browser(t), authURL, "al", "caregiver passphrase")
		if resp.StatusCode != 200 || !strings.Contains(body, "Ann Abbott") || !strings.Contains(body, "Allow Test app") {
			t.Fatalf("%d:\n%s", resp.StatusCode, body)
		}
	})
	t.Run("caregiver cannot pick another patient", func(t *testing.T) {
		b := browser(t)
		resp, body := signIn(t, b, authURL, "al", "caregiver passphrase")
		resp, err := b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"pick"}, "patient": {"pat-b"}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("staff search and pick", func(t *testing.T) {
		b := browser(t)
		resp, body := signIn(t, b, authURL, "nurse-n", "nurse passphrase")
		if !strings.Contains(body, "Choose a patient") || !strings.Contains(body, `<label for="q">`) {
			t.Fatalf("expected the picker:\n%s", body)
		}
		flowURL := resp.Request.URL.String()
		resp, err := b.Get(flowURL + "?q=brow")
		if err != nil {
			t.Fatal(err)
		}
		body = readAll(t, resp)
		if !strings.Contains(body, "Ben Brown") || strings.Contains(body, "Ann Abbott") {
			t.Fatalf("search by name prefix:\n%s", body)
		}
		resp, err = b.PostForm(flowURL, url.Values{"csrf": {pageCSRF(t, body)}, "action": {"pick"}, "patient": {"pat-b"}})
		if err != nil {
			t.Fatal(err)
		}
		body = readAll(t, resp)
		if !strings.Contains(body, "Allow Test app") || !strings.Contains(body, "Ben Brown") {
			t.Fatalf("after picking:\n%s", body)
		}
		resp, err = b.PostForm(flowURL, url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": {"patient/*.rs"}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("no redirect: %d", resp.StatusCode)
		}
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if tok.Extra("patient") != "pat-b" {
			t.Errorf("patient = %v", tok.Extra("patient"))
		}
	})
	t.Run("granting before a patient is picked shows the picker, issues no code", func(t *testing.T) {
		b := browser(t)
		resp, _ := signIn(t, b, authURL, "nurse-n", "nurse passphrase")
		flowURL := resp.Request.URL.String()
		resp, err := b.Get(flowURL + "?q=brow") // a page with this browser's form token
		if err != nil {
			t.Fatal(err)
		}
		csrf := pageCSRF(t, readAll(t, resp))
		resp, err = b.PostForm(flowURL, url.Values{"csrf": {csrf}, "action": {"grant"}, "scope": {"patient/*.rs"}})
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if loc, _ := resp.Location(); loc != nil || !strings.Contains(body, "Choose a patient") {
			t.Errorf("%d %v:\n%s", resp.StatusCode, loc, body)
		}
	})
	t.Run("a flow cannot be continued from another browser", func(t *testing.T) {
		resp, _ := signIn(t, browser(t), authURL, "ann", "correct horse battery")
		other := browser(t)
		r2, err := other.Get(resp.Request.URL.String())
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, r2)
		if r2.StatusCode != http.StatusBadRequest || strings.Contains(body, "Allow Test app") {
			t.Errorf("%d", r2.StatusCode)
		}
	})
}

// TestDemoLaunchByHand: the authorize URL the demo prints, with its PKCE
// pair, works as printed for the demo patient.
func TestDemoLaunchByHand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.BaseURL = "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	cfg.Demo = true
	var out strings.Builder
	m := &Main{Config: cfg, Logger: quiet(), Listener: ln, DemoOut: &out}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	trackServer(m)
	pw := regexp.MustCompile(`(?m)^\s+patient\s+patient\s+(\S+)`).FindStringSubmatch(out.String())
	if pw == nil {
		t.Fatalf("no demo patient password in:\n%s", out.String())
	}
	// The banner gives the demo patient's second factor too: the code of
	// the printed authenticator URI answers the code page.
	uri := regexp.MustCompile(`(?m)^\s+patient\s+patient\s+\S+.*\n\s+authenticator app: (otpauth://\S+)\n\s+recovery codes: \S+ \S+ \S+$`).FindStringSubmatch(out.String())
	if uri == nil {
		t.Fatalf("no authenticator URI and recovery codes for the demo patient in:\n%s", out.String())
	}
	b := browser(t)
	resp, body := signInPassword(t, b, demoAuthorizeURL(cfg), "patient", pw[1])
	if !isCodePage(body) {
		t.Fatalf("the demo patient's password alone was enough: %d", resp.StatusCode)
	}
	resp, err = b.PostForm(cfg.BaseURL+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {totpCode(t, uri[1], "")}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if !strings.Contains(body, "Allow Demo app") {
		t.Fatalf("%d:\n%s", resp.StatusCode, body)
	}
	resp, err = b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"},
		"scope": {"patient/*.rs", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	status, tok, _ := postForm(t, m, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {demoClientID},
		"redirect_uri": {demoRedirectURI}, "code_verifier": {demoVerifier}, "code": {loc.Query().Get("code")}}, nil)
	if status != 200 {
		t.Fatalf("token: %d %v", status, tok)
	}
	if status, _, _ := fhirGet(t, cfg.BaseURL, "/Observation?_count=5", tok["access_token"].(string)); status != 200 {
		t.Errorf("search with the demo token: %d", status)
	}
}

// TestCaregiverAccessEndsWithTheLink: when the care team ends a
// caregiver's RelatedPerson, the caregiver's token fails on its next
// request and its refresh token is refused.
func TestCaregiverAccessEndsWithTheLink(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	rp := `{"resourceType":"RelatedPerson","id":"rp-1","active":true,"patient":{"reference":"Patient/pat-a"}}`
	if _, err := s.ensureResource(ctx, "RelatedPerson", "rp-1", rp); err != nil {
		t.Fatal(err)
	}
	addUser(t, s.Main, "al", "proxy", "RelatedPerson/rp-1", "caregiver passphrase")
	conf := s.oauthConfig("launch/patient offline_access patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	b := browser(t)
	resp, body := signIn(t, b, conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir")), "al", "caregiver passphrase")
	resp, err := b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": {"offline_access", "patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken); status != 200 {
		t.Fatalf("caregiver read while linked: %d", status)
	}
	if status, _ := s.do(ctx, http.MethodPut, "/fhir/RelatedPerson/rp-1", []byte(strings.Replace(rp, `"active":true`, `"active":false`, 1))); status != 200 {
		t.Fatalf("end the link: %d", status)
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken); status != 401 {
		t.Errorf("caregiver read after the link ended: %d, want 401", status)
	}
	if status, _, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, nil); status != 400 {
		t.Errorf("refresh after the link ended: %d, want 400", status)
	}
}
