package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// registerPasskey signs ann in with her password and authenticator code
// in the tab, on the passkeys page, and adds a passkey there. It returns
// the TOTP code it used.
func registerPasskey(t *testing.T, s *smartServer, tb *tab, uri string) string {
	t.Helper()
	tb.do("passkeys page", chromedp.Navigate(s.base+"/oauth/login?next=/oauth/passkeys"))
	tb.signInWithPassword("ann", "correct horse battery")
	code := totpCode(t, uri, "")
	tb.enterCode(code)
	tb.waitText("Your passkeys")
	tb.addPasskey("Test phone")
	if page := tb.text("main"); !strings.Contains(page, "Test phone") || !strings.Contains(page, "stays on one device") {
		t.Errorf("the passkeys page does not list the new passkey:\n%s", page)
	}
	return code
}

// TestBrowserPasskeySignInAndSMARTLaunch: in Chromium, ann signs in with
// her password and authenticator code and adds a passkey; a fresh
// browser holding the same passkey signs in with it alone (no username,
// no code) and completes a SMART standalone launch; the app's tokens
// say phishing-resistant, amr hwk and user.
func TestBrowserPasskeySignInAndSMARTLaunch(t *testing.T) {
	chromiumPath(t)
	s := startSMART(t)
	uri, err := s.OAuth.Accounts().EnrollTOTP(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	browser := startChrome(t)
	first := newTab(t, browser)
	registerPasskey(t, s, first, uri)
	creds := first.credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || string(creds[0].UserHandle) == "" {
		t.Fatalf("the authenticator holds %+v, want one discoverable passkey", creds)
	}

	fresh := newTab(t, browser)
	fresh.give(creds)
	app := newBrowserApp(t, s, "launch/patient openid fhirUser patient/*.rs")
	fresh.do("authorize", chromedp.Navigate(app.authURL(s)))
	fresh.waitText("Sign in with a passkey")
	fresh.usePasskey()
	fresh.allow()
	tok := app.token(t, fresh)
	checkAuthn(t, s, tok, oauth.ACRPhishingResistant, "hwk", "user")
	if tok.Extra("patient") != "pat-a" {
		t.Errorf("patient %v", tok.Extra("patient"))
	}
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken); status != 200 {
		t.Errorf("reading the patient with the token: %d", status)
	}
}

// TestBrowserStepUpWithPasskey: an app asking for a phishing-resistant
// sign-in (acr_values), or for a new sign-in (prompt=login), sends a
// user already signed in with two factors to the sign-in page, which
// says to use a passkey; the passkey answers, and the app's tokens say
// so.
func TestBrowserStepUpWithPasskey(t *testing.T) {
	chromiumPath(t)
	s := startSMART(t)
	uri, err := s.OAuth.Accounts().EnrollTOTP(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	tb := newTab(t, startChrome(t))
	registerPasskey(t, s, tb, uri) // signed in with two factors
	app := newBrowserApp(t, s, "launch/patient openid fhirUser patient/*.rs")

	tb.do("acr_values", chromedp.Navigate(app.authURL(s, oauth2.SetAuthURLParam("acr_values", oauth.ACRPhishingResistant))))
	tb.waitText("This app asks you to sign in with a passkey")
	tb.usePasskey()
	tb.allow()
	checkAuthn(t, s, app.token(t, tb), oauth.ACRPhishingResistant, "hwk", "user")

	time.Sleep(1100 * time.Millisecond) // the last sign-in is now in an earlier second than the request
	tb.do("prompt=login", chromedp.Navigate(app.authURL(s, oauth2.SetAuthURLParam("prompt", "login"))))
	tb.waitText("Sign in with a passkey")
	tb.usePasskey()
	tb.allow()
	tok := app.token(t, tb)
	checkAuthn(t, s, tok, oauth.ACRPhishingResistant, "hwk", "user")
	// A passkey sign-in satisfies step-up on the FHIR API too.
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a/$everything", tok.AccessToken); status != 200 {
		t.Errorf("$everything after a passkey sign-in: %d", status)
	}
}
