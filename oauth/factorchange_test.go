package oauth

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"
)

// TestPasswordAloneNeverChangesAPasskeyOnlyAccount: an account whose
// only factor is a passkey, signed in with its password alone (a
// session that yields no token), may neither set up an authenticator
// app nor add or remove a passkey: a stolen password must not turn into
// a factor of the thief's. Setting up an app at /oauth/enroll is for an
// account with no factor at all, so even a passkey sign-in is sent on.
func TestPasswordAloneNeverChangesAPasskeyOnlyAccount(t *testing.T) {
	ps := startPasskeys(t)
	ctx := context.Background()
	first, csrf := ps.signedIn(t, annName)
	key := newSoftKey(t, "localhost", ps.origin)
	ps.register(t, first, csrf, key, "Phone")
	_, page := first.do(http.MethodGet, ps.url+passkeysPath, nil)
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(page)[1]

	thief := newBrowser(t)
	if resp, _ := ps.signIn(thief, annName, annPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password sign-in: %d", resp.StatusCode)
	}
	if lg := ps.session(t, thief); lg == nil || lg.ACR != ACRPassword {
		t.Fatalf("not a password session: %+v", lg)
	}
	_, page = thief.do(http.MethodGet, ps.url+passkeysPath, nil)
	tcsrf := csrfOf(t, page)
	unchanged := func(t *testing.T) {
		t.Helper()
		a, err := ps.accounts.Get(ctx, ps.ann.ID)
		if err != nil || a.HasTOTP() || len(a.Recovery) != 0 {
			t.Errorf("the account gained a code factor: %v", err)
		}
		keys, err := ps.passkeys.of(ctx, ps.ann.ID)
		if err != nil || len(keys) != 1 {
			t.Errorf("passkeys now %d (%v), want the owner's one", len(keys), err)
		}
	}

	t.Run("set up an authenticator app", func(t *testing.T) {
		for _, b := range []*browser{thief, func() *browser { b, _ := ps.passkeySession(t, key); return b }()} {
			resp, page := b.do(http.MethodGet, ps.url+enrollPath+"?next=%2Foauth%2Fsigned-in", nil)
			if strings.Contains(page, `id="totp-secret"`) || resp.StatusCode == http.StatusOK {
				t.Errorf("enrollment offered to a passkey-only account (%s session): %d\n%s", ps.session(t, b).ACR, resp.StatusCode, page)
			}
			if resp, _ := b.do(http.MethodPost, ps.url+enrollPath, url.Values{"csrf": {tcsrf}, "action": {"confirm"}, "code": {"123456"}}); resp.StatusCode == http.StatusOK {
				t.Errorf("enrollment posted: %d", resp.StatusCode)
			}
		}
		unchanged(t)
	})
	t.Run("add a passkey", func(t *testing.T) {
		status, body := thief.call(ps.url+"/oauth/passkeys/options", tcsrf, []byte(`{"name":"Thief"}`))
		if status != http.StatusForbidden || !strings.Contains(string(body), `"reauth"`) {
			t.Errorf("registration options: %d %s", status, body)
		}
		status, body = thief.call(ps.url+"/oauth/passkeys/register", tcsrf, newSoftKey(t, "localhost", ps.origin).create([]byte(`{}`)))
		if status == http.StatusOK {
			t.Errorf("registration: %d %s", status, body)
		}
		unchanged(t)
	})
	t.Run("remove the passkey", func(t *testing.T) {
		resp, _ := thief.do(http.MethodPost, ps.url+"/oauth/passkeys/remove", url.Values{"csrf": {tcsrf}, "id": {id}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("removal: %d", resp.StatusCode)
		}
		unchanged(t)
	})
}

// TestEnrollmentBegunBeforeAPasskey: an authenticator app whose set-up
// began while the account had no factor is not confirmed once the
// account has a passkey.
func TestEnrollmentBegunBeforeAPasskey(t *testing.T) {
	ps := startPasskeys(t)
	b, csrf := ps.signedIn(t, annName)
	_, page := b.do(http.MethodGet, ps.url+enrollPath, nil)
	m := regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no enrollment:\n%s", page)
	}
	ps.register(t, b, csrf, newSoftKey(t, "localhost", ps.origin), "Phone")
	code, err := totp.GenerateCodeCustom(strings.ReplaceAll(m[1], " ", ""), ps.clock.now(), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := b.do(http.MethodPost, ps.url+enrollPath, url.Values{"csrf": {csrfOf(t, page)}, "action": {"confirm"}, "code": {code}}); resp.StatusCode == http.StatusOK {
		t.Errorf("confirmed after a passkey: %d\n%s", resp.StatusCode, body)
	}
	if a, _ := ps.accounts.Get(context.Background(), ps.ann.ID); a.HasTOTP() {
		t.Error("the account has an authenticator app")
	}
}
