package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// The browser tests drive the sign-in pages through Debian's Chromium,
// headless, with a CDP virtual authenticator standing in for a passkey.
// Without Chromium they skip, except under CI=true, where they fail.

// browserBudget bounds each browser test: the browser is killed when it
// runs out, so a hang fails the test instead of stalling CI.
const browserBudget = 90 * time.Second

// chromiumPath finds Chromium, or skips the test (fails it under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is required for the browser tests under CI (apt-get install -y chromium)")
	}
	t.Skip("Chromium is not installed (apt-get install -y chromium); browser tests skipped")
	return ""
}

// startChrome starts a headless Chromium with a fresh profile and returns
// the context of its first tab. The whole browser lives at most
// browserBudget.
func startChrome(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	budget, cancelBudget := context.WithTimeout(context.Background(), browserBudget)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelBudget() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// tab is one browser tab with its own virtual authenticator.
type tab struct {
	t    *testing.T
	ctx  context.Context
	auth webauthn.AuthenticatorID
}

// newTab opens a tab in a new browser context (its own cookies: a fresh
// browser as far as the server can tell) and gives it a virtual platform
// authenticator: CTAP2, internal, resident keys, user verification that
// succeeds. AutomaticPresenceSimulation is set explicitly: the Go struct
// would otherwise send false, and every ceremony would wait forever.
func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return &tab{t: t, ctx: ctx, auth: res.AuthenticatorID}
}

// do runs actions, failing the test on error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v (page %s)", what, err, tb.location())
	}
}

func (tb *tab) location() string {
	loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
	return loc
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v (page %s)", sel, err, tb.location())
	}
	return s
}

// waitText waits until the page's body contains want.
func (tb *tab) waitText(want string) {
	tb.t.Helper()
	expr := fmt.Sprintf(`document.body && document.body.innerText.includes(%q)`, want)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	tb.t.Fatalf("waited for %q at %s; the page says:\n%s", want, tb.location(), body)
}

// credentials are the passkeys the tab's authenticator holds.
func (tb *tab) credentials() []*webauthn.Credential {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: tb.auth})
	if err != nil {
		tb.t.Fatal(err)
	}
	return res.Credentials
}

// addCredential is WebAuthn.addCredential with only the fields a passkey
// needs: cdproto's Credential always sends generateCmtgKeyOnNextOperation,
// which Chromium refuses from an authenticator without that extension.
var addCredential = cdp.Command[struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      passkeyCredential        `json:"credential"`
}, cdp.Empty]{Method: webauthn.CommandAddCredential}

type passkeyCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle"`
	SignCount            float64 `json:"signCount"`
	BackupEligibility    bool    `json:"backupEligibility"`
	BackupState          bool    `json:"backupState"`
}

// give copies passkeys into the tab's authenticator: the same phone, in
// a browser that has never seen this server.
func (tb *tab) give(creds []*webauthn.Credential) {
	tb.t.Helper()
	for _, c := range creds {
		_, err := chromedp.Call(tb.ctx, addCredential, struct {
			AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
			Credential      passkeyCredential        `json:"credential"`
		}{tb.auth, passkeyCredential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID,
			PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: c.SignCount,
			BackupEligibility: c.BackupEligibility, BackupState: c.BackupState}})
		if err != nil {
			tb.t.Fatal(err)
		}
	}
}

// signInWithPassword fills the sign-in form.
func (tb *tab) signInWithPassword(user, password string) {
	tb.t.Helper()
	tb.do("password sign-in",
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/oauth/login"] button[type=submit]`)),
	)
}

// enterCode fills the second-factor page.
func (tb *tab) enterCode(code string) {
	tb.t.Helper()
	tb.waitText("Enter your code")
	tb.do("code", chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.CSS(`form[action="/oauth/login/code"] button`)))
}

// usePasskey presses "Sign in with a passkey".
func (tb *tab) usePasskey() {
	tb.t.Helper()
	tb.do("passkey sign-in", chromedp.WaitVisible(chromedp.ID("passkey-signin")), chromedp.Click(chromedp.ID("passkey-signin")))
}

// allow presses Allow on the authorization page.
func (tb *tab) allow() {
	tb.t.Helper()
	tb.waitText("to use your health record?")
	tb.do("allow", chromedp.Click(chromedp.CSS(`button[value=grant]`)))
}

// addPasskey adds a passkey on the passkeys page.
func (tb *tab) addPasskey(name string) {
	tb.t.Helper()
	tb.do("add a passkey",
		chromedp.WaitVisible(chromedp.ID("passkey-name")),
		chromedp.SendKeys(chromedp.ID("passkey-name"), name),
		chromedp.Click(chromedp.ID("passkey-create")),
	)
	tb.waitText("Your passkey was added")
}

// browserApp is a SMART app for the browser tests: a public client whose
// redirect URI is a little server of the test's own on localhost, which
// hands over the authorization response.
type browserApp struct {
	conf     *oauth2.Config
	verifier string
	answers  chan url.Values
}

func newBrowserApp(t *testing.T, s *smartServer, scopes string) *browserApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	answers := make(chan url.Values, 4)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r) // the browser's favicon request
			return
		}
		select {
		case answers <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>App</title><p>Back in the app.</p></html>`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	redirect := fmt.Sprintf("http://localhost:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	ctx := context.Background()
	if _, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "browser-app", Name: "Browser app", Type: oauth.ClientPublic,
		RedirectURIs: []string{redirect}, Scopes: strings.Fields("launch/patient openid fhirUser patient/*.rs")}); err != nil &&
		!strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	return &browserApp{answers: answers, conf: &oauth2.Config{ClientID: "browser-app", RedirectURL: redirect, Scopes: strings.Fields(scopes),
		Endpoint: oauth2.Endpoint{AuthURL: s.base + "/oauth/authorize", TokenURL: s.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}}
}

// authURL starts a standalone launch (PKCE S256), with extra parameters.
func (a *browserApp) authURL(s *smartServer, extra ...oauth2.AuthCodeOption) string {
	a.verifier = oauth2.GenerateVerifier()
	return a.conf.AuthCodeURL("state-12345678", append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier),
		oauth2.SetAuthURLParam("aud", s.base+"/fhir")}, extra...)...)
}

// token waits for the authorization response and exchanges its code.
func (a *browserApp) token(t *testing.T, tb *tab) *oauth2.Token {
	t.Helper()
	select {
	case q := <-a.answers:
		if q.Get("code") == "" || q.Get("state") != "state-12345678" {
			t.Fatalf("authorization response %v", q)
		}
		tok, err := a.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	case <-time.After(20 * time.Second):
		body, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("the app got no authorization response; the browser is at %s:\n%s", tb.location(), body)
	}
	return nil
}

// checkAuthn verifies the id_token and checks its acr and amr.
func checkAuthn(t *testing.T, s *smartServer, tok *oauth2.Token, acr string, amr ...string) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	if _, err := verifyIDToken(raw, jwks(t, s)); err != nil {
		t.Fatalf("id_token: %v", err)
	}
	claims := idTokenClaims(t, raw)
	var got []string
	for _, v := range asList(claims["amr"]) {
		got = append(got, fmt.Sprint(v))
	}
	if claims["acr"] != acr || strings.Join(got, " ") != strings.Join(amr, " ") {
		t.Errorf("id_token acr %v amr %v; want %s %v", claims["acr"], got, acr, amr)
	}
}

// totpCode is the authenticator app's code for a secret now. The server
// takes each 30-second step once: wait for the next step if this one was
// used.
func totpCode(t *testing.T, uri string, after string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")
	for range 40 {
		c, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		if c != after {
			return c
		}
		time.Sleep(time.Second)
	}
	t.Fatal(errors.New("no new TOTP step"))
	return ""
}
