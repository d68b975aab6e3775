package main

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// Every user token needs a second factor, so test users have an
// authenticator app (TOTP) and the sign-in helpers answer the code page
// the way the user would: with the code the app shows, computed here from
// the account's secret. The server accepts each 30-second step once, so
// the helpers pick a step the server has not accepted yet (the one
// before, now, or the next: the one step of skew either way); when all
// three are spent, a recovery code.

// servers maps a test server's host:port to its records, so that the
// helpers, which see only URLs, find the accounts.
var servers sync.Map

// trackServer lets the sign-in helpers answer m's code page.
func trackServer(m *Main) {
	u, err := url.Parse(m.Config.BaseURL)
	if err != nil {
		panic(err)
	}
	servers.Store(u.Host, m.Store.(fhir.Records))
}

func accountsAt(t *testing.T, host string) oauth.Accounts {
	t.Helper()
	rec, ok := servers.Load(host)
	if !ok {
		t.Fatalf("no tracked test server at %s: call trackServer", host)
	}
	return oauth.Accounts{Records: rec.(fhir.Records), Now: time.Now}
}

// addUser creates an account with an authenticator app.
func addUser(t *testing.T, m *Main, username, role, fhirUser, password string) *oauth.Account {
	t.Helper()
	ctx := context.Background()
	a, err := m.OAuth.Accounts().Add(ctx, username, role, fhirUser, password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.OAuth.Accounts().EnrollTOTP(ctx, username); err != nil {
		t.Fatal(err)
	}
	return a
}

var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// codeAt is the TOTP code of a secret for one 30-second step.
func codeAt(t *testing.T, secret string, step int64) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// freshCode is a code the server at host will accept for username now:
// the earliest step it has not accepted yet among the three it accepts
// (the step before only while more than 3 seconds of the current step
// remain, so the clock cannot move it out of reach), else a new
// recovery code.
func freshCode(t *testing.T, host, username string) string {
	t.Helper()
	ctx := context.Background()
	accts := accountsAt(t, host)
	a, err := accts.ByUsername(ctx, username)
	if err != nil {
		t.Fatalf("second factor of %s: %v", username, err)
	}
	now := time.Now().Unix()
	cur := now / 30
	step := cur
	if 30-now%30 > 3 {
		step = cur - 1
	}
	step = max(step, a.TOTPLastStep+1)
	if a.TOTPSecret != "" && step <= cur+1 {
		return codeAt(t, a.TOTPSecret, step)
	}
	codes, err := accts.NewRecoveryCodes(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	return codes[0]
}

// code is a fresh second-factor code for username on s (freshCode).
func (s *smartServer) code(t *testing.T, username string) string {
	t.Helper()
	u, err := url.Parse(s.base)
	if err != nil {
		t.Fatal(err)
	}
	return freshCode(t, u.Host, username)
}

var continueLink = regexp.MustCompile(`<a href="([^"]+)">Continue without new codes</a>`)

// isCodePage tells whether a page asks for the second factor's code.
func isCodePage(body string) bool { return strings.Contains(body, `action="/oauth/login/code"`) }

// answerCode answers the code page, if that is what body is, with a
// fresh code for username, and continues past the recovery-code notice
// when a recovery code was used. Any other page is returned as it is.
func answerCode(t *testing.T, b *http.Client, resp *http.Response, body, username string) (*http.Response, string) {
	t.Helper()
	if !isCodePage(body) {
		return resp, body
	}
	u := resp.Request.URL
	resp, err := b.PostForm(u.Scheme+"://"+u.Host+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {freshCode(t, u.Host, username)}})
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if m := continueLink.FindStringSubmatch(body); m != nil {
		if resp, err = b.Get(u.Scheme + "://" + u.Host + html.UnescapeString(m[1])); err != nil {
			t.Fatal(err)
		}
		body = readAll(t, resp)
	}
	if isCodePage(body) {
		t.Fatalf("the code for %s was refused:\n%s", username, body)
	}
	return resp, body
}

// downgradeGrants rewrites every stored code, access and refresh token as if
// their sign-in had been a password alone: the state of a grant made
// before a second factor was required, which no path may let through.
func downgradeGrants(t *testing.T, m *Main) {
	t.Helper()
	ctx := context.Background()
	rec := m.Store.(fhir.Records)
	for _, kind := range []string{"oauth.code", "oauth.pkce", "oauth.oidc", "oauth.access", "oauth.refresh"} {
		found, err := rec.FindRecords(ctx, kind, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range found {
			for _, strong := range []string{oauth.ACRTwoFactor, oauth.ACRPhishingResistant} {
				r.Data = bytes.ReplaceAll(r.Data, []byte(`"`+strong+`"`), []byte(`"`+oauth.ACRPassword+`"`))
			}
			r.Data = bytes.ReplaceAll(r.Data, []byte(`["pwd","otp"]`), []byte(`["pwd"]`))
			if err := rec.PutRecord(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
}
