package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// Notices and the administrator's commands, end to end: what reaches the
// message file, what the command line does beside a running server, and
// what the audit trail keeps.

// noPHI fails when a message names the patient, their record, a code or
// a password: notices are fixed texts.
func noPHI(t *testing.T, msgs []oauth.Message) {
	t.Helper()
	for _, m := range msgs {
		for _, bad := range []string{"Ann", "Abbott", "pat-a", "Patient/", "correct horse", "ann@"} {
			if strings.Contains(m.Text, bad) {
				t.Errorf("message %q holds %q", m.Text, bad)
			}
		}
		if regexp.MustCompile(`[0-9]{4,}|[a-z2-7]{4}-[a-z2-7]{4}`).MatchString(m.Text) {
			t.Errorf("message %q holds something like a code", m.Text)
		}
	}
}

// sentTo is who got text, in the order sent.
func sentTo(msgs []oauth.Message, text oauth.Notice) []string {
	var out []string
	for _, m := range msgs {
		if m.Text == string(text) {
			out = append(out, string(m.Channel)+" "+m.To)
		}
	}
	return out
}

// TestLockNotice: the failure that makes 100 in a row locks the account
// and tells its owner, once, in the fixed text; the right password is
// then refused.
func TestLockNotice(t *testing.T) {
	ms := startMessages(t)
	ctx := context.Background()
	// 99 failures in a row, the last an hour ago (past any backoff).
	data, _ := json.Marshal(map[string]any{"count": 99, "last": time.Now().Add(-time.Hour).UTC(), "consecutive": 99})
	if err := ms.Store.(fhir.Records).PutRecord(ctx, &fhir.Record{Kind: "login.fail", Key: "ann", Data: data}); err != nil {
		t.Fatal(err)
	}
	if status, _ := postLogin(t, ms.smartServer, "ann", "not her password"); status != http.StatusUnauthorized {
		t.Fatalf("the 100th failure: %d", status)
	}
	msgs := ms.sent(t)
	if got := strings.Join(sentTo(msgs, oauth.NoticeLocked), ", "); got != "sms +15555550123, email ann@example.org" || len(msgs) != 2 {
		t.Fatalf("after the 100th failure: %+v", msgs)
	}
	noPHI(t, msgs)
	if locked, err := ms.OAuth.Accounts().Locked(ctx, "ann"); err != nil || !locked {
		t.Errorf("locked %v %v", locked, err)
	}
	// Past the backoff, the right password now fails like any other; no
	// second notice.
	r, err := ms.Store.(fhir.Records).GetRecord(ctx, "login.fail", "ann")
	if err != nil {
		t.Fatal(err)
	}
	r.Data, _ = json.Marshal(map[string]any{"count": 0, "last": time.Now().Add(-time.Hour).UTC(), "consecutive": 100})
	if err := ms.Store.(fhir.Records).PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	status, page := postLogin(t, ms.smartServer, "ann", "correct horse battery")
	if status != http.StatusUnauthorized || isCodePage(page) {
		t.Errorf("the right password of a locked account: %d", status)
	}
	if n := len(ms.sent(t)); n != 2 {
		t.Errorf("%d messages after the 101st attempt, want still 2", n)
	}
	if !auditHas(t, ms.smartServer, "sign-in locked after 100 consecutive failed attempts") {
		t.Error("no AuditEvent records the lock")
	}
	if strings.Contains(ms.log.String(), "not her password") {
		t.Error("the log holds a password")
	}
}

// TestLockNoticeNotBefore100: 98 failures and one more lock nothing and
// tell nobody.
func TestLockNoticeNotBefore100(t *testing.T) {
	ms := startMessages(t)
	data, _ := json.Marshal(map[string]any{"count": 0, "last": time.Now().Add(-time.Hour).UTC(), "consecutive": 98})
	if err := ms.Store.(fhir.Records).PutRecord(context.Background(), &fhir.Record{Kind: "login.fail", Key: "ann", Data: data}); err != nil {
		t.Fatal(err)
	}
	postLogin(t, ms.smartServer, "ann", "not her password")
	if n := len(ms.sent(t)); n != 0 {
		t.Errorf("%d messages after the 99th failure", n)
	}
	if status, page := postLogin(t, ms.smartServer, "ann", "correct horse battery"); status != http.StatusOK || !isCodePage(page) {
		t.Errorf("the right password after 99 failures: %d", status)
	}
}

// TestUserContactNotices: `fhirserver user contact`, beside the running
// server, tells the old and the new phone and email, ends the account's
// tokens, prints the new details masked, and is audited.
func TestUserContactNotices(t *testing.T) {
	ms := startMessages(t)
	dir := ms.Config.DataDir
	tok := ms.launch(t, "launch/patient openid patient/*.read")

	// Refused input changes and tells nothing.
	if _, err := cli(t, "", "user", "contact", "--data", dir, "--message-file", ms.messages, "--username", "ann", "--phone", "call me"); err == nil {
		t.Error("a phone number that is none was accepted")
	}
	if _, err := cli(t, "", "user", "contact", "--data", dir, "--message-file", ms.messages, "--username", "ann"); err == nil {
		t.Error("contact without --phone or --email succeeded")
	}
	if n := len(ms.sent(t)); n != 0 {
		t.Fatalf("%d messages after refused changes", n)
	}
	if status, _, _ := fhirGet(t, ms.base, "/Patient/pat-a", tok.AccessToken); status != http.StatusOK {
		t.Fatalf("the token after refused changes: %d", status)
	}

	out := mustCLI(t, "", "user", "contact", "--data", dir, "--message-file", ms.messages, "--username", "ann",
		"--phone", "+1 555 555 0188", "--email", "ann.new@example.org")
	if !strings.Contains(out, "user ann: contact text message •••• 0188, email a•••@example.org; their sessions and tokens have ended") ||
		strings.Contains(out, "0123") || strings.Contains(out, "ann.new@") {
		t.Errorf("output %q", out)
	}
	msgs := ms.sent(t)
	want := "sms +15555550123, email ann@example.org, sms +15555550188, email ann.new@example.org"
	if got := strings.Join(sentTo(msgs, oauth.NoticeContact), ", "); got != want || len(msgs) != 4 {
		t.Errorf("notices went to %q (%d messages), want %q", got, len(msgs), want)
	}
	noPHI(t, msgs)
	if status, _, _ := fhirGet(t, ms.base, "/Patient/pat-a", tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("the token after a contact change: %d", status)
	}
	if !auditHas(t, ms.smartServer, "contact details changed to text message •••• 0188, email a•••@example.org") {
		t.Error("no AuditEvent records the change")
	}
	if raw, _ := json.Marshal(auditEvents(t, ms.smartServer, "")); strings.Contains(string(raw), "5550188") || strings.Contains(string(raw), "ann.new@") {
		t.Error("the audit trail holds a whole phone number or email")
	}

	// Removing the email tells the old email and the phone.
	mustCLI(t, "", "user", "contact", "--data", dir, "--message-file", ms.messages, "--username", "ann", "--email", "")
	msgs = ms.sent(t)[4:]
	if got := strings.Join(sentTo(msgs, oauth.NoticeContact), ", "); got != "sms +15555550188, email ann.new@example.org" {
		t.Errorf("after removing the email, notices went to %q", got)
	}
	if a, _ := ms.OAuth.Accounts().ByUsername(context.Background(), "ann"); a.Email != "" || a.Phone != "+15555550188" {
		t.Errorf("contact %q %q", a.Phone, a.Email)
	}
}

var printedLink = regexp.MustCompile(`(?m)^  (http://\S+/oauth/enroll\S+)$`)

// TestUserResetCommand: `fhirserver user reset`, beside the running
// server, removes a lost factor after a named staff member checked the
// person's identity: the factor and the tokens are gone, a one-time
// set-up link is printed once, the owner is told, and the audit trail
// says who verified and how.
func TestUserResetCommand(t *testing.T) {
	ms := startMessages(t)
	ctx := context.Background()
	dir := ms.Config.DataDir
	addUser(t, ms.Main, "nina", "nurse", "Practitioner/nina", "correct horse battery")
	if _, err := ms.OAuth.Accounts().NewRecoveryCodes(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	tok := ms.launch(t, "launch/patient openid patient/*.read")
	args := func(extra ...string) []string {
		return append([]string{"user", "reset", "--data", dir, "--message-file", ms.messages, "--base-url", ms.base, "--username", "ann"}, extra...)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"no --method", args("--verified-by", "nina")},
		{"a method not on the list", args("--verified-by", "nina", "--method", "asked her birthday")},
		{"no --verified-by", args("--method", "photo ID")},
		{"a verifier who is no staff", args("--verified-by", "ann", "--method", "photo ID")},
		{"an unknown verifier", args("--verified-by", "nobody", "--method", "photo ID")},
	} {
		if out, err := cli(t, "", c.args...); err == nil {
			t.Errorf("%s: succeeded\n%s", c.name, out)
		}
	}
	if a, _ := ms.OAuth.Accounts().ByUsername(ctx, "ann"); !a.HasTOTP() || len(a.Recovery) == 0 {
		t.Fatal("a refused reset removed the factor")
	}
	if n := len(ms.sent(t)); n != 0 {
		t.Fatalf("%d messages after refused resets", n)
	}

	out := mustCLI(t, "", args("--verified-by", "nina", "--method", "photo ID")...)
	m := printedLink.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "user ann reset: second factor removed, signed out everywhere, unlocked; notice sent to text message •••• 0123, email a•••@example.org") ||
		!strings.HasPrefix(m[1], ms.base+"/oauth/enroll") {
		t.Fatalf("output %q", out)
	}
	a, err := ms.OAuth.Accounts().ByUsername(ctx, "ann")
	if err != nil || a.HasTOTP() || len(a.Recovery) != 0 || !a.EnrollByLink {
		t.Fatalf("after the reset: %+v %v", a, err)
	}
	if status, _, _ := fhirGet(t, ms.base, "/Patient/pat-a", tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("her token after the reset: %d", status)
	}
	msgs := ms.sent(t)
	if got := strings.Join(sentTo(msgs, oauth.NoticeReset), ", "); got != "sms +15555550123, email ann@example.org" || len(msgs) != 2 {
		t.Errorf("notices %+v", msgs)
	}
	noPHI(t, msgs)
	nina, err := ms.OAuth.Accounts().ByUsername(ctx, "nina")
	if err != nil {
		t.Fatal(err)
	}
	if !auditHas(t, ms.smartServer, "identity verified by staff account "+nina.ID+" (photo ID") {
		t.Error("no AuditEvent records who verified the identity and how")
	}
	token := regexp.MustCompile(`[?&#/]([A-Za-z0-9_-]{20,})`).FindStringSubmatch(m[1])
	if raw, _ := json.Marshal(auditEvents(t, ms.smartServer, "")); token != nil && strings.Contains(string(raw), token[1]) {
		t.Error("the audit trail holds the set-up link")
	}

	// The printed link opens the set-up page.
	resp, err := browser(t).Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "With an authenticator app") {
		t.Errorf("the printed link: %d\n%s", resp.StatusCode, body)
	}
}

// TestNewRecoveryCodesNeedARecentSignIn: making new recovery codes needs
// a sign-in from the last 5 minutes with a real second factor; an older
// one is sent to sign in again, and nothing changes or is sent.
func TestNewRecoveryCodesNeedARecentSignIn(t *testing.T) {
	ms := startMessages(t)
	ctx := context.Background()
	rec := ms.Store.(fhir.Records)
	b := ms.knownBrowser(t, "ann")
	_, page := signIn(t, b, ms.base+"/oauth/login?next=/oauth/signed-in", "ann", "correct horse battery")
	before, err := ms.OAuth.Accounts().ByUsername(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	// Without the form's token: refused.
	if resp, _ := postPage(t, b, ms.base+"/oauth/recovery-codes", url.Values{"next": {"/oauth/signed-in"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("new codes without CSRF: %d", resp.StatusCode)
	}

	// The sign-in is six minutes old (and still in use).
	found, err := rec.FindRecords(ctx, "login", "account", before.ID)
	if err != nil || len(found) == 0 {
		t.Fatalf("sign-in sessions: %d %v", len(found), err)
	}
	for _, r := range found {
		var l map[string]any
		if err := json.Unmarshal(r.Data, &l); err != nil {
			t.Fatal(err)
		}
		l["authTime"] = time.Now().Add(-6 * time.Minute).UTC()
		r.Data, _ = json.Marshal(l)
		if err := rec.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := postPage(t, b, ms.base+"/oauth/recovery-codes", url.Values{"csrf": {pageCSRF(t, page)}, "next": {"/oauth/signed-in"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Sign in again to change how you sign in") || strings.Contains(body, "<code>") {
		t.Fatalf("new codes after an old sign-in: %d\n%s", resp.StatusCode, body)
	}
	after, err := ms.OAuth.Accounts().ByUsername(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(after.Recovery, " ") != strings.Join(before.Recovery, " ") {
		t.Error("an old sign-in changed the recovery codes")
	}
	if n := len(ms.sent(t)); n != 0 {
		t.Errorf("%d messages after a refused change", n)
	}

	// Signing in again (a fresh code) makes them, and tells the owner.
	_, page = signIn(t, b, ms.base+"/oauth/login?prompt=login&next=/oauth/signed-in", "ann", "correct horse battery")
	if !strings.Contains(page, "You are signed in") {
		t.Fatalf("signing in again:\n%s", page)
	}
	resp, body = postPage(t, b, ms.base+"/oauth/recovery-codes", url.Values{"csrf": {pageCSRF(t, page)}, "next": {"/oauth/signed-in"}})
	if resp.StatusCode != http.StatusOK || strings.Count(body, "<li><code>") != oauth.RecoveryCodes {
		t.Fatalf("new codes after a fresh sign-in: %d\n%s", resp.StatusCode, body)
	}
	if got := strings.Join(sentTo(ms.sent(t), oauth.NoticeRecoveryCodes), ", "); got != "sms +15555550123, email ann@example.org" {
		t.Errorf("notices %q", got)
	}
}
