package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// lostPasskey gives user a passkey whose private key nobody holds: the
// state of a user whose phone, with the passkey, is lost.
func lostPasskey(t *testing.T, m *Main, user string) {
	t.Helper()
	ctx := context.Background()
	acct, err := m.OAuth.Accounts().ByUsername(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	data, err := json.Marshal(oauth.Passkey{Account: acct.ID, Name: "Phone", Created: time.Now().UTC(),
		Credential: webauthn.Credential{ID: id}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Store.(fhir.Records).PutRecord(ctx, &fhir.Record{Kind: "passkey", Key: base64.RawURLEncoding.EncodeToString(id),
		Data: data, Attrs: map[string]string{"account": acct.ID}}); err != nil {
		t.Fatal(err)
	}
}

const recoverButton = "I can't use my passkey: use a recovery code"

// TestRiskPromptWithoutThePasskey: a user with a passkey and an
// authenticator app signs in from a browser never seen for the account,
// so the risk signals ask for the passkey. Without it they press "I
// can't use my passkey", type a recovery code, and the same sign-in goes
// on to the app's tokens; the authenticator app's code is refused there,
// nothing is sent by text or email, the owner is told a recovery code
// was used, and the audit trail says the recovery code stood in for the
// passkey.
func TestRiskPromptWithoutThePasskey(t *testing.T) {
	ms := startMessages(t)
	ctx := context.Background()
	codes, err := ms.OAuth.Accounts().NewRecoveryCodes(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	lostPasskey(t, ms.Main, "ann")
	l := ms.appLaunch()
	b := browser(t)
	resp, body := signInPassword(t, b, l.url, "ann", "correct horse battery")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Get("risk") != "1" || isCodePage(body) ||
		!strings.Contains(body, "sign in with your passkey") || !strings.Contains(body, recoverButton) {
		t.Fatalf("a new browser with a passkey: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	passkeyPage := body

	// The same page without that pending sign-in offers no way round.
	other := browser(t)
	r2, err := other.Get(resp.Request.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	otherPage := readAll(t, r2)
	if strings.Contains(otherPage, recoverButton) {
		t.Error("the passkey page offers a recovery code to a browser that gave no password")
	}
	if resp, page := postPage(t, other, ms.base+"/oauth/login/recovery-code", url.Values{"csrf": {pageCSRF(t, otherPage)}}); resp.StatusCode != http.StatusBadRequest || isCodePage(page) {
		t.Errorf("recovery instead, without a pending sign-in: %d", resp.StatusCode)
	}
	// Without the form's token: refused.
	if resp, page := postPage(t, b, ms.base+"/oauth/login/recovery-code", nil); resp.StatusCode != http.StatusBadRequest || isCodePage(page) {
		t.Errorf("recovery instead, without CSRF: %d", resp.StatusCode)
	}
	// The pending sign-in takes no authenticator code and sends no code,
	// even posted straight to the code endpoints.
	resp, page := postPage(t, b, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, passkeyPage)}, "code": {ms.code(t, "ann")}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "That is not a recovery code") {
		t.Fatalf("the authenticator code where the passkey was asked: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := postPage(t, b, ms.base+"/oauth/login/send-code", url.Values{"csrf": {pageCSRF(t, passkeyPage)}, "channel": {"sms"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("send a code where the passkey was asked: %d", resp.StatusCode)
	}
	if n := len(ms.sent(t)); n != 0 {
		t.Fatalf("%d messages sent before any recovery", n)
	}
	if resp, err := b.Get(ms.base + "/oauth/signed-in"); err != nil {
		t.Fatal(err)
	} else if page := readAll(t, resp); strings.Contains(page, "Sign out") {
		t.Fatal("signed in without the passkey or a recovery code")
	}

	// "I can't use my passkey": the code page, for a recovery code only.
	resp, page = postPage(t, b, ms.base+"/oauth/login/recovery-code", url.Values{"csrf": {pageCSRF(t, passkeyPage)}})
	if resp.StatusCode != http.StatusOK || !isCodePage(page) || !strings.Contains(page, "<h1>Enter a recovery code</h1>") ||
		!strings.Contains(page, `<label for="code">Recovery code</label>`) || strings.Contains(page, "Send me a code") {
		t.Fatalf("recovery instead: %d\n%s", resp.StatusCode, page)
	}
	resp, page = postPage(t, b, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, page)}, "code": {"aaaa-bbbb-cccc-dddd"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "That recovery code is not right") {
		t.Fatalf("a wrong recovery code: %d\n%s", resp.StatusCode, page)
	}
	resp, page = postPage(t, b, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, page)}, "code": {strings.ToUpper(codes[3])}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You have 9 left") {
		t.Fatalf("the recovery code: %d\n%s", resp.StatusCode, page)
	}
	m := continueLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no way on from the recovery page:\n%s", page)
	}
	if resp, err = b.Get(ms.base + html.UnescapeString(m[1])); err != nil {
		t.Fatal(err)
	}
	page = readAll(t, resp)
	if !strings.Contains(page, "Allow Test app") {
		t.Fatalf("after the recovery code: %d\n%s", resp.StatusCode, page)
	}
	tok := ms.grant(t, b, l, resp, page)
	if c := idClaims(t, tok); c["acr"] != oauth.ACRTwoFactor || fmt.Sprint(c["amr"]) != "[pwd otp]" {
		t.Errorf("id_token acr %v amr %v", c["acr"], c["amr"])
	}

	// The owner is told, in the fixed text, with no code.
	var told []string
	for _, msg := range ms.sent(t) {
		if msg.Text != string(oauth.NoticeRecoveryCode) {
			t.Errorf("message %q", msg.Text)
		}
		told = append(told, msg.To)
	}
	if strings.Join(told, " ") != "+15555550123 ann@example.org" {
		t.Errorf("notices went to %v", told)
	}
	// The audit trail: passkey asked, then the recovery code asked and
	// used instead.
	decisions := strings.Join(riskDecisions(t, ms.smartServer), "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^signals: new-device new-network; no trusted device; passkey asked$`),
		regexp.MustCompile(`(?m)^signals: new-device new-network; no trusted device; passkey asked; passkey not available; recovery code asked$`),
		regexp.MustCompile(`(?m)^signals: new-device new-network; no trusted device; passkey asked; recovery code used instead$`),
	} {
		if !want.MatchString(decisions) {
			t.Errorf("no risk decision %s in:\n%s", want, decisions)
		}
	}
	// The code is spent: a second sign-in cannot use it again.
	b2 := browser(t)
	_, page = signInPassword(t, b2, l.url, "ann", "correct horse battery")
	_, page = postPage(t, b2, ms.base+"/oauth/login/recovery-code", url.Values{"csrf": {pageCSRF(t, page)}})
	if !isCodePage(page) {
		t.Fatalf("second sign-in, recovery instead:\n%s", page)
	}
	if resp, _ := postPage(t, b2, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, page)}, "code": {codes[3]}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the same recovery code again: %d", resp.StatusCode)
	}
}
