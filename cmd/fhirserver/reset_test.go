package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/oauth"
)

// TestStaffReset: a nurse signed in with two factors resets a patient's
// lost factor after checking their identity: the factor and the
// patient's tokens are gone, the patient is told, and only the one-time
// link sets up a new factor. Nobody resets their own account or an
// administrator's, and the form needs how the identity was checked.
func TestStaffReset(t *testing.T) {
	ms := startMessages(t)
	ctx := context.Background()
	addUser(t, ms.Main, "nina", "nurse", "Practitioner/nina", "correct horse battery")
	addUser(t, ms.Main, "root", "admin", "", "correct horse battery")
	tok := ms.launch(t, "launch/patient openid patient/*.read")

	nb := browser(t)
	_, page := signIn(t, nb, ms.base+"/oauth/login?next=/oauth/reset", "nina", "correct horse battery")
	if !strings.Contains(page, "How you checked who they are") {
		t.Fatalf("reset page:\n%s", page)
	}
	post := func(form url.Values) (*http.Response, string) {
		form.Set("csrf", pageCSRF(t, page))
		return postPage(t, nb, ms.base+"/oauth/reset", form)
	}
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		text   string
	}{
		{"no identity check confirmed", url.Values{"username": {"ann"}, "method": {"photo ID"}}, http.StatusBadRequest, "Confirm that you checked"},
		{"no method", url.Values{"username": {"ann"}, "verified": {"yes"}}, http.StatusBadRequest, "Choose how you checked"},
		{"a method not on the list", url.Values{"username": {"ann"}, "verified": {"yes"}, "method": {"asked their birthday"}}, http.StatusBadRequest, "Choose how you checked"},
		{"their own account", url.Values{"username": {"nina"}, "verified": {"yes"}, "method": {"photo ID"}}, http.StatusForbidden, "You cannot reset this account"},
		{"an administrator's", url.Values{"username": {"root"}, "verified": {"yes"}, "method": {"photo ID"}}, http.StatusForbidden, "You cannot reset this account"},
		{"an unknown username", url.Values{"username": {"nobody"}, "verified": {"yes"}, "method": {"photo ID"}}, http.StatusBadRequest, "No account has this username"},
	} {
		resp, body := post(c.form)
		if resp.StatusCode != c.status || !strings.Contains(body, c.text) || !strings.Contains(body, `aria-invalid="true"`) && c.name != "no method" && c.name != "a method not on the list" {
			t.Errorf("%s: %d\n%s", c.name, resp.StatusCode, body)
		}
	}
	if a, _ := ms.OAuth.Accounts().ByUsername(ctx, "ann"); !a.HasTOTP() {
		t.Fatal("a refused reset removed the factor")
	}

	resp, body := post(url.Values{"username": {"ann"}, "verified": {"yes"}, "method": {"photo ID"}})
	m := shownLink.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("reset: %d\n%s", resp.StatusCode, body)
	}
	a, err := ms.OAuth.Accounts().ByUsername(ctx, "ann")
	if err != nil || a.HasTOTP() || len(a.Recovery) != 0 || !a.EnrollByLink {
		t.Fatalf("after the reset: %+v %v", a, err)
	}
	if status, _, _ := fhirGet(t, ms.base, "/Patient/pat-a", tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("the patient's token after the reset: %d", status)
	}
	msgs := ms.sent(t)
	if len(msgs) != 2 || msgs[0].Text != string(oauth.NoticeReset) || msgs[1].Text != string(oauth.NoticeReset) {
		t.Errorf("notices %+v, want the reset notice by text and email", msgs)
	}

	// With the password alone, no new factor: only the link sets one up.
	ab := browser(t)
	resp, body = signInPassword(t, ab, ms.base+"/oauth/login?next=/oauth/signed-in", "ann", "correct horse battery")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Use the set-up link") {
		t.Errorf("self-enrollment after a reset: %d\n%s", resp.StatusCode, body)
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")
	resp, err = ab.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	if body = readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Set up a second way to sign in") {
		t.Errorf("the set-up link: %d\n%s", resp.StatusCode, body)
	}

	// The audit trail records who verified and how.
	if !auditHas(t, ms.smartServer, "identity verified by staff account", "(photo ID)") {
		t.Error("no AuditEvent records who verified the identity and how")
	}
}

// auditHas tells whether the stored AuditEvents hold every text.
func auditHas(t *testing.T, s *smartServer, texts ...string) bool {
	t.Helper()
	raw, err := json.Marshal(auditEvents(t, s, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range texts {
		if !bytes.Contains(raw, []byte(want)) {
			return false
		}
	}
	return true
}
