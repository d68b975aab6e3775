package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// syncBuffer is a log sink the server writes to from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// messageServer is a SMART test server (startSMART's accounts, patients
// and app) with a message file and its log kept, at Debug level.
type messageServer struct {
	*smartServer
	messages string // the message file
	log      *syncBuffer
}

func startMessages(t *testing.T) *messageServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.BaseURL = "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	cfg.MessageFile = filepath.Join(dir, "messages.jsonl")
	logs := &syncBuffer{}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Listener: ln}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	if _, err := m.ensureResource(ctx, "Patient", "pat-a", `{"resourceType":"Patient","id":"pat-a","name":[{"family":"Abbott","given":["Ann"]}]}`); err != nil {
		t.Fatal(err)
	}
	trackServer(m)
	addUser(t, m, "ann", "patient", "Patient/pat-a", "correct horse battery")
	phone, email := "+1 555 555 0123", "ann@example.org"
	if _, _, err := m.OAuth.Accounts().SetContact(ctx, "ann", &phone, &email); err != nil {
		t.Fatal(err)
	}
	if _, err := m.OAuth.Clients().Add(ctx, &oauth.Client{ID: "app", Name: "Test app", Type: oauth.ClientPublic,
		RedirectURIs: []string{appRedirect}, Scopes: strings.Fields("launch/patient openid fhirUser patient/*.read")}); err != nil {
		t.Fatal(err)
	}
	return &messageServer{smartServer: &smartServer{Main: m, base: cfg.BaseURL}, messages: cfg.MessageFile, log: logs}
}

// sent reads the message file.
func (ms *messageServer) sent(t *testing.T) []oauth.Message {
	t.Helper()
	f, err := os.Open(ms.messages)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []oauth.Message
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m oauth.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("message line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

var sentCode = regexp.MustCompile(`^Your sign-in code is ([0-9]{6})\. It expires in 5 minutes\.$`)

// lastCode is the code of the last message, which must be exactly the
// fixed text.
func (ms *messageServer) lastCode(t *testing.T, channel oauth.Channel, to string) string {
	t.Helper()
	msgs := ms.sent(t)
	if len(msgs) == 0 {
		t.Fatal("no message sent")
	}
	m := msgs[len(msgs)-1]
	c := sentCode.FindStringSubmatch(m.Text)
	if m.Channel != channel || m.To != to || c == nil {
		t.Fatalf("message %+v, want the fixed code text by %s to %s", m, channel, to)
	}
	return c[1]
}

func (ms *messageServer) authURL() (string, *oauth2.Config, string) {
	conf := ms.oauthConfig("launch/patient openid patient/*.read")
	verifier := oauth2.GenerateVerifier()
	return conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", ms.base+"/fhir")), conf, verifier
}

// knownBrowser is a browser where user has signed in before with the
// authenticator app (and then out), so that its next sign-in raises no
// risk signal: a sign-in from a new browser asks for the strongest
// factor and is offered no code by text or email.
func (ms *messageServer) knownBrowser(t *testing.T, user string) *http.Client {
	t.Helper()
	b := browser(t)
	authURL, _, _ := ms.authURL()
	if _, body := signIn(t, b, authURL, user, "correct horse battery"); !strings.Contains(body, "Allow Test app") {
		t.Fatalf("first sign-in of %s:\n%s", user, body)
	}
	ms.signOut(t, b)
	return b
}

func postPage(t *testing.T, b *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := b.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// TestFallbackCodeByText: a user who cannot use their app asks for a
// code by text message; it arrives in the fixed text, works once, signs
// them in for a routine authorization, and never for step-up; it never
// appears in the log.
func TestFallbackCodeByText(t *testing.T) {
	ms := startMessages(t)
	authURL, conf, verifier := ms.authURL()
	b := ms.knownBrowser(t, "ann")
	_, body := signInPassword(t, b, authURL, "ann", "correct horse battery")
	for _, want := range []string{"Send me a code by text message instead, to •••• 0123", "Send me a code by email instead, to a•••@example.org"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the code page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "+15555550123") || strings.Contains(body, "ann@example.org") {
		t.Error("the code page shows the whole phone or email")
	}
	// No CSRF token: refused, nothing sent.
	if resp, _ := postPage(t, b, ms.base+"/oauth/login/send-code", url.Values{"channel": {"sms"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("send without CSRF: %d", resp.StatusCode)
	}
	if len(ms.sent(t)) != 0 {
		t.Fatal("a code was sent without the form's token")
	}
	resp, body := postPage(t, b, ms.base+"/oauth/login/send-code", url.Values{"csrf": {pageCSRF(t, body)}, "channel": {"sms"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "We sent a 6-digit code by text message to •••• 0123") {
		t.Fatalf("send: %d\n%s", resp.StatusCode, body)
	}
	code := ms.lastCode(t, oauth.ChannelSMS, "+15555550123")

	// A wrong code is refused and counted like any other.
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
	resp, body = postPage(t, b, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {wrong}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	resp, body = postPage(t, b, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {code}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Allow Test app") {
		t.Fatalf("the code by text message did not sign in: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = postPage(t, b, resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": {"patient/*.read"}})
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect to the app: %d", resp.StatusCode)
	}
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != "pat-a" {
		t.Errorf("patient %v", tok.Extra("patient"))
	}
	// Routine reads work; step-up does not accept the code.
	if status, _, _ := fhirGet(t, ms.base, "/Patient/pat-a", tok.AccessToken); status != http.StatusOK {
		t.Errorf("read with a fallback sign-in: %d", status)
	}
	status, _, h := fhirGet(t, ms.base, "/Patient/pat-a/$everything", tok.AccessToken)
	if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Errorf("$everything after a code by text message: %d %q, want a step-up challenge", status, h.Get("WWW-Authenticate"))
	}
	claims := idClaims(t, tok)
	if fmt.Sprint(claims["amr"]) != "[pwd sms]" || claims["acr"] != oauth.ACRTwoFactor {
		t.Errorf("id_token acr %v amr %v, want two factors and [pwd sms]", claims["acr"], claims["amr"])
	}

	// The code works once: a new sign-in cannot reuse it.
	b2 := ms.knownBrowser(t, "ann")
	_, body = signInPassword(t, b2, authURL, "ann", "correct horse battery")
	if resp, _ := postPage(t, b2, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {code}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the same code again: %d", resp.StatusCode)
	}

	// An app asking for a fresh or stronger sign-in (step-up) gets the
	// code page again, without the text message choice.
	stepUp := authURL + "&max_age=0"
	resp, err = b.Get(stepUp)
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if !isCodePage(body) && !strings.Contains(body, `action="/oauth/login"`) {
		t.Fatalf("step-up after a code by text message: not asked again:\n%s", body)
	}
	if strings.Contains(body, "Send me a code") {
		t.Error("step-up offers a code by text message")
	}

	for _, secret := range []string{code, "+15555550123", "ann@example.org"} {
		if strings.Contains(ms.log.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	if fi, err := os.Stat(ms.messages); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("message file mode %v %v, want 0600", fi.Mode(), err)
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// idClaims are the claims of the token response's id_token (read, not
// verified: the server's own tests verify it elsewhere).
func idClaims(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("no id_token: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFallbackCodeLimits: at most three codes an hour; an account
// without a phone or email, or a server without a message file, offers
// none; a code by email signs in with amr mca.
func TestFallbackCodeLimits(t *testing.T) {
	ms := startMessages(t)
	authURL, _, _ := ms.authURL()
	b := ms.knownBrowser(t, "ann")
	_, body := signInPassword(t, b, authURL, "ann", "correct horse battery")
	for i := range 3 {
		resp, page := postPage(t, b, ms.base+"/oauth/login/send-code", url.Values{"csrf": {pageCSRF(t, body)}, "channel": {"email"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("send %d: %d", i+1, resp.StatusCode)
		}
		body = page
	}
	code := ms.lastCode(t, oauth.ChannelEmail, "ann@example.org")
	resp, page := postPage(t, b, ms.base+"/oauth/login/send-code", url.Values{"csrf": {pageCSRF(t, body)}, "channel": {"sms"}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Several codes were sent in the last hour") {
		t.Errorf("fourth code in an hour: %d", resp.StatusCode)
	}
	if n := len(ms.sent(t)); n != 3 {
		t.Errorf("%d messages sent, want 3", n)
	}
	// The last code sent is the one that works.
	resp, _ = postPage(t, b, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, page)}, "code": {code}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code by email: %d", resp.StatusCode)
	}

	// No phone or email: no choice, and a forged request sends nothing.
	addUser(t, ms.Main, "ben", "patient", "Patient/pat-a", "correct horse battery")
	b2 := ms.knownBrowser(t, "ben")
	_, body = signInPassword(t, b2, authURL, "ben", "correct horse battery")
	if strings.Contains(body, "Send me a code") {
		t.Error("an account without a phone or email is offered a code")
	}
	if resp, _ := postPage(t, b2, ms.base+"/oauth/login/send-code", url.Values{"csrf": {pageCSRF(t, body)}, "channel": {"sms"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged send for an account without a phone: %d", resp.StatusCode)
	}
	if n := len(ms.sent(t)); n != 3 {
		t.Errorf("%d messages sent, want still 3", n)
	}

	// A server without a message file offers none.
	s := startSMART(t)
	phone := "+15555550123"
	if _, _, err := s.OAuth.Accounts().SetContact(context.Background(), "ann", &phone, nil); err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig("launch/patient openid patient/*.read")
	_, body = signInPassword(t, browser(t), conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("aud", s.base+"/fhir")), "ann", "correct horse battery")
	if strings.Contains(body, "Send me a code") {
		t.Error("a server without a message file offers a code")
	}
}

// TestRiskySignInOffersNoFallback: a sign-in that raises a risk signal
// (here a browser never seen for the account) is asked for the strongest
// factor the account has: the code page offers no code by text or email,
// a forged request sends none, and a code sent to a routine sign-in of
// the same account does not complete the risky one.
func TestRiskySignInOffersNoFallback(t *testing.T) {
	ms := startMessages(t)
	authURL, _, _ := ms.authURL()
	known := ms.knownBrowser(t, "ann")

	risky := browser(t)
	resp, body := signInPassword(t, risky, authURL, "ann", "correct horse battery")
	if !isCodePage(body) {
		t.Fatalf("a new browser: not the code page: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "Send me a code") || strings.Contains(body, "/oauth/login/send-code") {
		t.Error("a sign-in with risk signals offers a code by text or email")
	}
	if d := lastDecision(t, ms.smartServer); !strings.Contains(d, "new-device") || !strings.HasSuffix(d, "authenticator or recovery code asked") {
		t.Errorf("decision %q", d)
	}
	for _, ch := range []string{"sms", "email"} {
		resp, page := postPage(t, risky, ms.base+"/oauth/login/send-code", url.Values{"csrf": {pageCSRF(t, body)}, "channel": {ch}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "not available here") {
			t.Errorf("forged send by %s for a risky sign-in: %d", ch, resp.StatusCode)
		}
	}
	if n := len(ms.sent(t)); n != 0 {
		t.Fatalf("%d messages sent for a risky sign-in", n)
	}

	// The routine sign-in from the known browser is offered a code and
	// gets one; typed into the risky sign-in, it is refused.
	_, page := signInPassword(t, known, authURL, "ann", "correct horse battery")
	if !strings.Contains(page, "Send me a code by text message instead") {
		t.Fatalf("the known browser is not offered a code:\n%s", page)
	}
	if resp, _ := postPage(t, known, ms.base+"/oauth/login/send-code", url.Values{"csrf": {pageCSRF(t, page)}, "channel": {"sms"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("send for the known browser: %d", resp.StatusCode)
	}
	code := ms.lastCode(t, oauth.ChannelSMS, "+15555550123")
	resp, body = postPage(t, risky, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {code}})
	if resp.StatusCode != http.StatusUnauthorized || !isCodePage(body) {
		t.Fatalf("a code by text message completed a risky sign-in: %d\n%s", resp.StatusCode, body)
	}
	// It was not spent there: the sign-in it was sent for still takes it.
	if resp, page := postPage(t, known, ms.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, page)}, "code": {code}}); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Allow Test app") {
		t.Fatalf("the code in its own sign-in: %d\n%s", resp.StatusCode, page)
	}
	// The risky sign-in still completes with the authenticator app.
	if _, page := answerCode(t, risky, resp, body, "ann"); !strings.Contains(page, "Allow Test app") {
		t.Fatalf("the authenticator code after risk signals:\n%s", page)
	}
}
