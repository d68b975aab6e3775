package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

// unreadablePasskeys fails every read of passkeys while broken is set.
type unreadablePasskeys struct {
	fhir.Records
	broken atomic.Bool
}

func (u *unreadablePasskeys) FindRecords(ctx context.Context, kind, name, value string) ([]*fhir.Record, error) {
	if kind == kindPasskey && u.broken.Load() {
		return nil, errors.New("store unavailable")
	}
	return u.Records.FindRecords(ctx, kind, name, value)
}

// TestUnreadablePasskeysFailTheAuthorization: an app asks for a
// phishing-resistant sign-in; when the server cannot tell whether the
// account has a passkey, the authorization fails (5xx) rather than take
// "no passkey" and settle for two factors.
func TestUnreadablePasskeysFailTheAuthorization(t *testing.T) {
	ps := startPasskeys(t)
	rec := &unreadablePasskeys{Records: ps.st}
	ps.Server.passkeys = passkeys{rec: rec}
	code := ps.withTOTP(t, annName)
	b := newBrowser(t)
	_, page, asked := ps.password(b, annName)
	if !asked {
		t.Fatalf("no code page:\n%s", page)
	}
	ps.code(t, b, page, code(), false)

	_, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {eventsRedirect}, "scope": {"openid fhirUser launch/patient patient/*.rs"},
		"state": {"state-12345678"}, "aud": {ps.base}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "acr_values": {ACRPhishingResistant}}
	resp, _ := b.do(http.MethodGet, ps.url+"/oauth/authorize?"+q.Encode(), nil)
	flowPath := resp.Header.Get("Location")
	if !strings.HasPrefix(flowPath, "/oauth/flow/") {
		t.Fatalf("authorize: %d %q", resp.StatusCode, flowPath)
	}
	rec.broken.Store(true)
	resp, page = b.do(http.MethodGet, ps.url+flowPath, nil)
	if resp.StatusCode < 500 || strings.Contains(page, `name="action"`) {
		t.Errorf("passkeys unreadable: %d\n%s", resp.StatusCode, page)
	}
	// Readable again, the account without a passkey gets the strongest
	// factor it has, as before.
	rec.broken.Store(false)
	resp, page = b.do(http.MethodGet, ps.url+flowPath, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="action"`) {
		t.Errorf("passkeys readable: %d\n%s", resp.StatusCode, page)
	}
}
