package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// TestSignInWithAnAuthenticatorApp: an account with TOTP gets no session
// from its password alone; the right code starts it, and the tokens say
// two factors (acr, amr). A replayed code and repeated wrong codes are
// refused.
func TestSignInWithAnAuthenticatorApp(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	uri, err := s.OAuth.Accounts().EnrollTOTP(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	code := func() string {
		c, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	conf := s.oauthConfig("launch/patient openid fhirUser patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir"))

	b := browser(t)
	resp, body := signInPassword(t, b, authURL, "ann", "correct horse battery")
	if resp.StatusCode != 200 || !strings.Contains(body, "Enter your code") || strings.Contains(body, "Allow Test app") {
		t.Fatalf("after the password: %d\n%s", resp.StatusCode, body)
	}
	// No session yet: the authorization flow asks for the login again.
	if r, err := b.Get(authURL); err != nil {
		t.Fatal(err)
	} else if page := readAll(t, r); !strings.Contains(page, `action="/oauth/login"`) {
		t.Fatalf("a session existed before the code:\n%s", page)
	}
	resp, body = signInPassword(t, b, authURL, "ann", "correct horse battery")
	good := code()
	resp, err = b.PostForm(s.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {good}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "Allow Test app") {
		t.Fatalf("after the code: %d\n%s", resp.StatusCode, body)
	}
	resp, err = b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": {"patient/*.rs"}})
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
	provider, err := oidc.NewProvider(ctx, s.base+"/fhir")
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	idt.Claims(&claims)
	if claims.ACR != oauth.ACRTwoFactor || strings.Join(claims.AMR, " ") != "pwd otp" {
		t.Errorf("acr %q amr %v, want two factors", claims.ACR, claims.AMR)
	}

	// The same code again, in another browser, is refused.
	b2 := browser(t)
	_, body = signInPassword(t, b2, authURL, "ann", "correct horse battery")
	resp, err = b2.PostForm(s.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {good}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not right") {
		t.Errorf("a replayed code: %d", resp.StatusCode)
	}
	// Five wrong codes (the replay was the first) end the pending
	// sign-in: back to the password.
	for i := range 4 {
		resp, err = b2.PostForm(s.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {"000000"}})
		if err != nil {
			t.Fatal(err)
		}
		body = readAll(t, resp)
		if i < 3 && !strings.Contains(body, "Enter your code") {
			t.Fatalf("wrong code %d: %s", i+1, body)
		}
	}
	if !strings.Contains(body, "Sign in again with your password") {
		t.Errorf("after five wrong codes:\n%s", body)
	}
}

// TestUserAddWithTOTP: the command line enrolls an authenticator app and
// prints its URI once.
func TestUserAddWithTOTP(t *testing.T) {
	dir := t.TempDir()
	out := mustCLI(t, "a long passphrase\n", "user", "add", "--data", dir, "--username", "tia", "--role", "nurse", "--password-stdin", "--totp")
	if !strings.Contains(out, "otpauth://totp/") || !strings.Contains(out, "secret=") {
		t.Errorf("no otpauth URI in:\n%s", out)
	}
}

// TestSignInWithARecoveryCode: a recovery code stands in for the app,
// once; the user is told at once and offered new codes, which replace
// the old.
func TestSignInWithARecoveryCode(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	codes, err := s.OAuth.Accounts().NewRecoveryCodes(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	b := browser(t)
	resp, body := signInPassword(t, b, s.base+"/oauth/login?next=/oauth/signed-in", "ann", "correct horse battery")
	if !strings.Contains(body, "Enter your code") {
		t.Fatalf("after the password: %d\n%s", resp.StatusCode, body)
	}
	resp, err = b.PostForm(s.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {codes[0]}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "You have 9 left") {
		t.Fatalf("after the recovery code: %d\n%s", resp.StatusCode, body)
	}
	resp, err = b.PostForm(s.base+"/oauth/recovery-codes", url.Values{"csrf": {pageCSRF(t, body)}, "next": {"/oauth/signed-in"}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if n := strings.Count(body, "<code>"); resp.StatusCode != 200 || n != 10 {
		t.Fatalf("new codes: %d, %d shown\n%s", resp.StatusCode, n, body)
	}
	// The old codes no longer work.
	b2 := browser(t)
	_, body = signInPassword(t, b2, s.base+"/oauth/login?next=/oauth/signed-in", "ann", "correct horse battery")
	resp, err = b2.PostForm(s.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {codes[1]}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an old code after new ones: %d", resp.StatusCode)
	}
}

// TestAuthorizeHonoursPromptMaxAgeAndACR: prompt=login and max_age=0
// ask for a new sign-in even with a live session; acr_values asking for
// two factors ask an account with a second factor for it, and refuse one
// without.
func TestAuthorizeHonoursPromptMaxAgeAndACR(t *testing.T) {
	s := startSMART(t)
	conf := s.oauthConfig("launch/patient openid fhirUser patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	url := func(extra ...oauth2.AuthCodeOption) string {
		return conf.AuthCodeURL("state-12345678", append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("aud", s.base+"/fhir")}, extra...)...)
	}
	b := browser(t)
	if _, body := signIn(t, b, url(), "ann", "correct horse battery"); !strings.Contains(body, "Allow Test app") {
		t.Fatal("first sign-in")
	}
	for name, u := range map[string]string{
		"prompt=login": url(oauth2.SetAuthURLParam("prompt", "login")),
		"max_age=0":    url(oauth2.SetAuthURLParam("max_age", "0")),
	} {
		time.Sleep(1100 * time.Millisecond) // the session's sign-in is now in an earlier second than the request
		r, err := b.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(t, r); !strings.Contains(page, `action="/oauth/login"`) {
			t.Errorf("%s with a live session: no new sign-in asked", name)
		}
	}
	// Without any of them, the live session is enough.
	r, err := b.Get(url())
	if err != nil {
		t.Fatal(err)
	}
	if page := readAll(t, r); !strings.Contains(page, "Allow Test app") {
		t.Error("a plain request asked for a new sign-in")
	}

	// A two-factor session answers acr_values asking for two factors;
	// asking for a passkey, of an account without one, asks for the
	// strongest factor it has, which this session already holds.
	for _, acr := range []string{oauth.ACRTwoFactor, oauth.ACRPhishingResistant} {
		r, err := b.Get(url(oauth2.SetAuthURLParam("acr_values", acr)))
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(t, r); !strings.Contains(page, "Allow Test app") {
			t.Errorf("acr_values %s with a two-factor session: %d", acr, r.StatusCode)
		}
	}
}

// launchStrong runs a standalone launch for ann signing in with two
// factors: since every user token needs them, any launch.
func (s *smartServer) launchStrong(t *testing.T, scopes string) *oauth2.Token {
	t.Helper()
	return s.launch(t, scopes)
}

// TestStepUpForSensitiveInteractions: downloading the whole record, a
// document, or changing who may see the record asks a password-only
// token (one issued before a second factor was required) for a recent
// two-factor sign-in (RFC 9470); a two-factor token passes; backend
// services are not asked.
func TestStepUpForSensitiveInteractions(t *testing.T) {
	s := startSMART(t)
	weak := s.launch(t, "launch/patient patient/*.cruds").AccessToken
	downgradeGrants(t, s.Main)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/Patient/pat-a/$everything", ""},
		{"GET", "/DocumentReference?patient=pat-a", ""},
		{"GET", "/Binary/anything", ""},
		{"POST", "/Consent", `{"resourceType":"Consent"}`},
	} {
		req, _ := http.NewRequest(c.method, s.base+"/fhir"+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+weak)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != 401 || !strings.Contains(h, `error="insufficient_user_authentication"`) ||
			!strings.Contains(h, `acr_values="`+oauth.ACRTwoFactor+`"`) || !strings.Contains(h, "max_age=") {
			t.Errorf("%s %s with a password-only token: %d %q", c.method, c.path, resp.StatusCode, h)
		}
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", weak); status != 200 {
		t.Errorf("an ordinary read with a password-only token: %d", status)
	}
	strong := s.launchStrong(t, "launch/patient patient/*.rs").AccessToken
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a/$everything", strong); status != 200 {
		t.Errorf("$everything with a two-factor token: %d", status)
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-b/$everything", strong); status != 404 {
		t.Errorf("another patient's $everything with a two-factor token: %d", status)
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a/$everything", systemToken(t, s.Main)); status != 200 {
		t.Errorf("$everything by a backend service: %d", status)
	}
}
