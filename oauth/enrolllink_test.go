package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestEnrollLinkNeedsNoFactor: a passkey counts as a second factor, so
// an account with one gets no set-up link (a lost one goes through a
// staff reset), and a link opened after the account added a passkey
// sets up nothing. Who issues for whom follows the roles.
func TestEnrollLinkNeedsNoFactor(t *testing.T) {
	ps := startPasskeys(t)
	ctx := context.Background()
	links := EnrollLinks{Records: ps.st, Now: ps.clock.now}

	bobLink, err := links.IssueFor(ctx, nil, ps.bob, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, csrf := ps.signedIn(t, annName)
	ps.register(t, b, csrf, newSoftKey(t, "localhost", ps.origin), "Phone")
	if _, err := links.IssueFor(ctx, nil, ps.ann, 0); !errors.Is(err, ErrLinkHasFactor) {
		t.Errorf("a link for a passkey-only account: %v", err)
	}

	bb, bcsrf := ps.signedIn(t, "bob")
	ps.register(t, bb, bcsrf, newSoftKey(t, "localhost", ps.origin), "Phone")
	resp, page := newBrowser(t).do(http.MethodGet, EnrollURL(ps.url, bobLink), nil)
	if resp.StatusCode != http.StatusConflict || strings.Contains(page, `id="totp-secret"`) {
		t.Errorf("a link opened after the account added a passkey: %d\n%s", resp.StatusCode, page)
	}

	acct := func(id, role string) *Account { return &Account{ID: id, Role: role} }
	for _, c := range []struct {
		name          string
		staff, target *Account
		want          bool
	}{
		{"front desk → patient", acct("d", "front-desk"), acct("p", "patient"), true},
		{"nurse → caregiver", acct("n", "nurse"), acct("p", "proxy"), true},
		{"front desk → administrator", acct("d", "front-desk"), acct("a", "admin"), false},
		{"nurse → oncologist", acct("n", "nurse"), acct("o", "oncologist"), false},
		{"administrator → nurse", acct("a", "admin"), acct("n", "nurse"), true},
		{"administrator → administrator", acct("a", "admin"), acct("b", "admin"), false},
		{"administrator → themselves", acct("a", "admin"), acct("a", "admin"), false},
		{"nurse → themselves", acct("n", "nurse"), acct("n", "nurse"), false},
		{"patient → patient", acct("p", "patient"), acct("q", "patient"), false},
		{"command line → oncologist", nil, acct("o", "oncologist"), true},
		{"command line → administrator", nil, acct("a", "admin"), false},
	} {
		if got := mayIssueLink(c.staff, c.target); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
