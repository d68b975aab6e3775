package oauth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The idle and absolute limits of a sign-in session are the server's:
// 15 minutes without a request end it, use keeps it alive, and 12 hours
// after sign-in it ends however busy it was.
func TestSessionIdleAndAbsoluteLimits(t *testing.T) {
	ps := startPasskeys(t)
	signedIn := func(b *browser) bool {
		t.Helper()
		resp, _ := b.do(http.MethodGet, ps.url+"/oauth/signed-in", nil)
		if resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/oauth/login") {
			return false
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("signed-in page: %d", resp.StatusCode)
		}
		return true
	}

	b, busy := newBrowser(t), newBrowser(t)
	ps.signInTwoFactors(t, b, annName, annPassword)
	ps.signInTwoFactors(t, busy, annName, annPassword)
	if !signedIn(b) || !signedIn(busy) {
		t.Fatal("not signed in")
	}
	ps.clock.advance(14 * time.Minute)
	if !signedIn(b) || !signedIn(busy) {
		t.Fatal("ended after 14 idle minutes")
	}
	ps.clock.advance(14 * time.Minute) // 28 minutes in, 14 since the last request
	if !signedIn(b) || !signedIn(busy) {
		t.Fatal("a used session ended")
	}
	ps.clock.advance(8 * time.Minute)
	if !signedIn(busy) {
		t.Fatal("a used session ended")
	}
	ps.clock.advance(8 * time.Minute)
	if signedIn(b) {
		t.Fatal("alive after 16 idle minutes")
	}
	if !signedIn(busy) {
		t.Fatal("a used session ended")
	}

	// The other one, kept busy, ends 12 hours after its sign-in.
	alive := time.Duration(44 * time.Minute)
	for alive < 12*time.Hour-10*time.Minute {
		ps.clock.advance(10 * time.Minute)
		alive += 10 * time.Minute
		if !signedIn(busy) {
			t.Fatalf("a busy session ended %s after sign-in", alive)
		}
	}
	ps.clock.advance(7 * time.Minute) // 12 h 1 min after sign-in, 7 min idle
	if signedIn(busy) {
		t.Fatal("a session kept busy lived past 12 hours")
	}
}
