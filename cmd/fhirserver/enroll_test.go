package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

var shownSecret = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`)

// enrollSecret is the authenticator secret an enrollment page shows.
func enrollSecret(t *testing.T, body string) string {
	t.Helper()
	m := shownSecret.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", body)
	}
	return strings.ReplaceAll(m[1], " ", "")
}

// postEnroll posts the enrollment form of page.
func postEnroll(t *testing.T, b *http.Client, base, page string, form url.Values) (*http.Response, string) {
	t.Helper()
	form.Set("csrf", pageCSRF(t, page))
	resp, err := b.PostForm(base+"/oauth/enroll", form)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// TestEnrollmentAtFirstSignIn: an account without a second factor is
// taken to set up an authenticator app at once (no deferral by default):
// the secret and otpauth URI as text, no external image; a wrong code is
// refused on its field; the right one sets it up, shows recovery codes,
// and the launch goes on to tokens with two factors. Until then its
// account pages send it back to enrollment.
func TestEnrollmentAtFirstSignIn(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	if _, err := s.OAuth.Accounts().Add(ctx, "nia", "patient", "Patient/pat-b", "nia's passphrase"); err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig("launch/patient openid fhirUser patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	b := browser(t)
	resp, body := signIn(t, b, s.launchURL(conf, verifier), "nia", "nia's passphrase")
	if resp.Request.URL.Path != "/oauth/enroll" || !strings.Contains(body, `<code id="totp-uri">otpauth://totp/`) {
		t.Fatalf("not taken to enrollment: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if strings.Contains(body, "<img") || strings.Contains(body, `value="defer"`) {
		t.Errorf("an image, or a deferral without --mfa-deferrals:\n%s", body)
	}
	// The account pages send it back to enrollment (a new secret).
	if r, err := b.Get(s.base + "/oauth/access-report"); err != nil {
		t.Fatal(err)
	} else if body = readAll(t, r); r.Request.URL.Path != "/oauth/enroll" {
		t.Errorf("the access report before enrolling: ended at %s", r.Request.URL)
	}
	secret := enrollSecret(t, body)
	resp, body = postEnroll(t, b, s.base, body, url.Values{"action": {"confirm"}, "code": {"000000"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `aria-describedby="enroll-error" aria-invalid="true"`) {
		t.Errorf("a wrong code: %d\n%s", resp.StatusCode, body)
	}
	now := time.Now().Unix() / 30
	resp, body = postEnroll(t, b, s.base, body, url.Values{"action": {"confirm"}, "code": {codeAt(t, secret, now)}})
	if resp.StatusCode != 200 || strings.Count(body, "<code>") != 10 {
		t.Fatalf("after the right code: %d\n%s", resp.StatusCode, body)
	}
	next := regexp.MustCompile(`<a href="([^"]+)">Continue</a>`).FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("no way on:\n%s", body)
	}
	resp, err := b.Get(s.base + html.UnescapeString(next[1]))
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.Request.URL.Path != "/oauth/access-report" || resp.StatusCode != 200 {
		t.Errorf("continue after enrolling: %d %s", resp.StatusCode, resp.Request.URL)
	}
	// The session now holds two factors: the launch goes on.
	if resp, err = b.Get(s.launchURL(conf, verifier)); err != nil {
		t.Fatal(err)
	}
	if body = readAll(t, resp); !strings.Contains(body, "Allow Test app") {
		t.Fatalf("the launch did not go on after enrolling: %s\n%s", resp.Request.URL, body)
	}
	acct, err := s.OAuth.Accounts().ByUsername(ctx, "nia")
	if err != nil || acct.TOTPSecret != secret || acct.TOTPLastStep != now {
		t.Errorf("stored secret or step not the confirmed ones (step %d, want %d)", acct.TOTPLastStep, now)
	}
	// The confirming code's step is spent: it cannot sign in again.
	_, body = signInPassword(t, browser(t), s.launchURL(conf, verifier), "nia", "nia's passphrase")
	r, err := browser(t).PostForm(s.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {codeAt(t, secret, now)}})
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, r); r.StatusCode == 200 {
		t.Error("the enrollment's code was accepted again")
	}
	if n := len(auditEvents(t, s, "subtype=factor-enrolled")); n < 2 {
		t.Errorf("%d factor-enrolled AuditEvents, want the app and the recovery codes", n)
	}
}

// TestEnrollmentDeferral: with --mfa-deferrals 1 the user may put
// enrollment off once (counted and audited): the session reaches the
// account pages, but a launch still asks for enrollment and gives no
// code; the next sign-in may not put it off again.
func TestEnrollmentDeferral(t *testing.T) {
	s := startSMARTWith(t, func(c *Config) { c.MFADeferrals = 1 })
	ctx := context.Background()
	if _, err := s.OAuth.Accounts().Add(ctx, "dan", "patient", "Patient/pat-b", "dan's passphrase"); err != nil {
		t.Fatal(err)
	}
	b := browser(t)
	_, body := signIn(t, b, s.base+"/oauth/login?next=/oauth/signed-in", "dan", "dan's passphrase")
	if !strings.Contains(body, `value="defer"`) || !strings.Contains(body, "1 more time") {
		t.Fatalf("no deferral offered:\n%s", body)
	}
	resp, _ := postEnroll(t, b, s.base, body, url.Values{"action": {"defer"}})
	if resp.Request.URL.Path != "/oauth/signed-in" {
		t.Fatalf("after putting it off: %s", resp.Request.URL)
	}
	if r, err := b.Get(s.base + "/oauth/access-report"); err != nil {
		t.Fatal(err)
	} else if readAll(t, r); r.Request.URL.Path != "/oauth/access-report" {
		t.Errorf("the account page after a deferral: ended at %s", r.Request.URL)
	}
	conf := s.oauthConfig("launch/patient patient/*.rs")
	r, err := b.Get(s.launchURL(conf, oauth2.GenerateVerifier()))
	if err != nil {
		t.Fatal(err)
	}
	if page := readAll(t, r); r.Request.URL.Path != "/oauth/enroll" || strings.Contains(page, "Allow Test app") {
		t.Errorf("a launch in a deferred session: %s", r.Request.URL)
	}
	if acct, _ := s.OAuth.Accounts().ByUsername(ctx, "dan"); acct.Deferrals != 1 {
		t.Errorf("deferrals counted: %d", acct.Deferrals)
	}
	if n := len(auditEvents(t, s, "subtype=mfa-deferred")); n != 1 {
		t.Errorf("%d mfa-deferred AuditEvents, want 1", n)
	}
	b2 := browser(t)
	_, body = signIn(t, b2, s.base+"/oauth/login?next=/oauth/signed-in", "dan", "dan's passphrase")
	if strings.Contains(body, `value="defer"`) {
		t.Error("a second deferral was offered")
	}
	if resp, _ := postEnroll(t, b2, s.base, body, url.Values{"action": {"defer"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a second deferral posted: %d", resp.StatusCode)
	}
}

var shownLink = regexp.MustCompile(`<code id="enroll-link">([^<]+)</code>`)

// TestStaffEnrollmentLink: a nurse signed in with two factors issues a
// one-time link for a patient who has no second factor yet; the owner is
// told; the patient sets up an authenticator app through it without
// their password; the link works once. A link is refused for an account
// that has a factor (a lost one goes through a staff reset), for an
// administrator by the front desk, and by a patient; a link opened after
// the account gained a factor is refused; the command line follows the
// same rules; each issue is audited.
func TestStaffEnrollmentLink(t *testing.T) {
	ms := startMessages(t)
	s := ms.smartServer
	ctx := context.Background()
	addUser(t, s.Main, "nurse-n", "nurse", "", "nurse passphrase")
	addUser(t, s.Main, "desk-d", "front-desk", "", "desk passphrase")
	if _, err := s.OAuth.Accounts().Add(ctx, "root", "admin", "", "root passphrase"); err != nil { // no factor yet
		t.Fatal(err)
	}
	for _, u := range []string{"pia", "quinn", "rex"} {
		if _, err := s.OAuth.Accounts().Add(ctx, u, "patient", "Patient/pat-a", u+"'s passphrase"); err != nil {
			t.Fatal(err)
		}
	}
	phone := "+1 555 555 0199"
	if _, _, err := s.OAuth.Accounts().SetContact(ctx, "pia", &phone, nil); err != nil {
		t.Fatal(err)
	}
	annBefore, err := s.OAuth.Accounts().ByUsername(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}

	nurse := browser(t)
	_, page := signIn(t, nurse, s.base+"/oauth/login?next=/oauth/enroll-link", "nurse-n", "nurse passphrase")
	issue := func(b *http.Client, page, username string) (*http.Response, string) {
		t.Helper()
		return postPage(t, b, s.base+"/oauth/enroll-link", url.Values{"csrf": {pageCSRF(t, page)}, "username": {username}})
	}
	if resp, body := issue(nurse, page, "nobody-here"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `aria-invalid="true"`) {
		t.Errorf("an unknown username: %d", resp.StatusCode)
	}
	// ann has an authenticator app: no link replaces it.
	if resp, body := issue(nurse, page, "ann"); resp.StatusCode != http.StatusConflict || shownLink.MatchString(body) ||
		!strings.Contains(body, `aria-invalid="true"`) || !strings.Contains(body, "/oauth/reset") {
		t.Errorf("a link for an account with an authenticator app: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := issue(nurse, page, "nurse-n"); resp.StatusCode != http.StatusForbidden || shownLink.MatchString(body) {
		t.Errorf("a link for oneself: %d", resp.StatusCode)
	}
	resp, body := issue(nurse, page, "pia")
	m := shownLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link issued: %d\n%s", resp.StatusCode, body)
	}
	link := html.UnescapeString(m[1])
	if msgs := ms.sent(t); len(msgs) != 1 || msgs[0].Text != string(oauth.NoticeEnrollLink) || msgs[0].To != "+15555550199" {
		t.Errorf("notices %+v, want the set-up link notice to pia's phone", msgs)
	}

	patient := browser(t)
	resp, err = patient.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	secret := enrollSecret(t, body)
	resp, body = postEnroll(t, patient, s.base, body, url.Values{"action": {"confirm"}, "code": {codeAt(t, secret, time.Now().Unix()/30)}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Your authenticator app is set up") {
		t.Fatalf("enrolling through the link: %d\n%s", resp.StatusCode, body)
	}
	if a, _ := s.OAuth.Accounts().ByUsername(ctx, "pia"); a.TOTPSecret != secret {
		t.Error("pia's authenticator app is not the one set up")
	}
	if r, err := browser(t).Get(link); err != nil {
		t.Fatal(err)
	} else if readAll(t, r); r.StatusCode != http.StatusBadRequest {
		t.Errorf("the link used again: %d", r.StatusCode)
	}

	// A link opened after its account set up a factor another way.
	resp, body = issue(nurse, page, "quinn")
	m = shownLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link for quinn: %d\n%s", resp.StatusCode, body)
	}
	if _, err := s.OAuth.Accounts().EnrollTOTP(ctx, "quinn"); err != nil {
		t.Fatal(err)
	}
	quinn, _ := s.OAuth.Accounts().ByUsername(ctx, "quinn")
	if r, err := browser(t).Get(html.UnescapeString(m[1])); err != nil {
		t.Fatal(err)
	} else if page := readAll(t, r); r.StatusCode != http.StatusConflict || strings.Contains(page, `id="totp-secret"`) ||
		!strings.Contains(page, "already has a second way to sign in") {
		t.Errorf("a link opened after the account enrolled: %d\n%s", r.StatusCode, page)
	}
	if a, _ := s.OAuth.Accounts().ByUsername(ctx, "quinn"); a.TOTPSecret != quinn.TOTPSecret {
		t.Error("quinn's authenticator app changed")
	}

	// The front desk issues for patients only, never for an administrator.
	desk := browser(t)
	_, dpage := signIn(t, desk, s.base+"/oauth/login?next=/oauth/enroll-link", "desk-d", "desk passphrase")
	for _, target := range []string{"root", "nurse-n"} {
		if resp, body := issue(desk, dpage, target); resp.StatusCode != http.StatusForbidden || shownLink.MatchString(body) {
			t.Errorf("front desk → %s: %d", target, resp.StatusCode)
		}
	}

	// A patient issues none.
	annB := browser(t)
	signIn(t, annB, s.base+"/oauth/login?next=/oauth/enroll-link", "ann", "correct horse battery")
	if r, err := annB.Get(s.base + "/oauth/signed-in"); err != nil {
		t.Fatal(err)
	} else {
		page = readAll(t, r)
	}
	if r, _ := issue(annB, page, "rex"); r.StatusCode != http.StatusForbidden {
		t.Errorf("a patient issuing a link: %d", r.StatusCode)
	}
	if a, _ := s.OAuth.Accounts().ByUsername(ctx, "ann"); a.TOTPSecret != annBefore.TOTPSecret || len(a.Recovery) != len(annBefore.Recovery) {
		t.Error("ann's factors changed")
	}

	// The command line: any non-admin account without a factor.
	for _, target := range []string{"ann", "root"} {
		if _, err := cli(t, "", "user", "enroll-link", "--data", s.Config.DataDir, "--base-url", s.base, "--username", target); err == nil {
			t.Errorf("the command line issued a link for %s", target)
		}
	}
	out := mustCLI(t, "", "user", "enroll-link", "--data", s.Config.DataDir, "--base-url", s.base, "--username", "rex")
	cliLink := regexp.MustCompile(`(?m)^\s+(http\S+/oauth/enroll\?link=\S+)$`).FindStringSubmatch(out)
	if cliLink == nil {
		t.Fatalf("no link printed:\n%s", out)
	}
	if r, err := browser(t).Get(cliLink[1]); err != nil {
		t.Fatal(err)
	} else if page := readAll(t, r); !strings.Contains(page, `id="totp-secret"`) {
		t.Errorf("the command line's link: %d", r.StatusCode)
	}
	if n := len(auditEvents(t, s, "subtype=enrollment-link-issued")); n < 3 {
		t.Errorf("%d enrollment-link-issued AuditEvents, want the three links and the refusals", n)
	}
}
