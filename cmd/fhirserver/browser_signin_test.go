package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/oncofhir/oncofhir/oauth"
)

// TestBrowserTOTPSignIn: in Chromium, a SMART launch for an account with
// an authenticator app asks for the password, then the 6-digit code; a
// wrong code is refused on the same page with its error tied to the
// field; the right one leads to the authorization page, and the tokens
// say two factors (pwd, otp).
func TestBrowserTOTPSignIn(t *testing.T) {
	chromiumPath(t)
	s := startSMART(t)
	uri, err := s.OAuth.Accounts().EnrollTOTP(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	tb := newTab(t, startChrome(t))
	app := newBrowserApp(t, s, "launch/patient openid fhirUser patient/*.rs")
	tb.do("authorize", chromedp.Navigate(app.authURL(s)))
	tb.signInWithPassword("ann", "correct horse battery")
	tb.enterCode("000000")
	tb.waitText("That code is not right")
	described, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.getElementById("code").getAttribute("aria-describedby") || ""`))
	if err != nil || described != "code-error" {
		t.Errorf("the wrong code's error is not tied to the field: %q %v", described, err)
	}
	tb.enterCode(totpCode(t, uri, "000000"))
	tb.allow()
	checkAuthn(t, s, app.token(t, tb), oauth.ACRTwoFactor, "pwd", "otp")
}

// TestBrowserRecoveryCodeSignIn: in Chromium, one of the recovery codes
// stands in for the authenticator app; the next page says a code was
// used and how many are left, and offers new ones; continuing without
// them completes the launch with two factors.
func TestBrowserRecoveryCodeSignIn(t *testing.T) {
	chromiumPath(t)
	s := startSMART(t)
	codes, err := s.OAuth.Accounts().NewRecoveryCodes(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	tb := newTab(t, startChrome(t))
	app := newBrowserApp(t, s, "launch/patient openid fhirUser patient/*.rs")
	tb.do("authorize", chromedp.Navigate(app.authURL(s)))
	tb.signInWithPassword("ann", "correct horse battery")
	tb.enterCode(strings.ToUpper(codes[3])) // typed in capitals: still the code
	tb.waitText("You signed in with a recovery code")
	if page := tb.text("main"); !strings.Contains(page, "You have 9 left") || !strings.Contains(page, "Make new recovery codes") {
		t.Errorf("the recovery page:\n%s", page)
	}
	tb.do("continue", chromedp.Click(chromedp.CSS(`main a[href^="/oauth/flow/"]`)))
	tb.allow()
	checkAuthn(t, s, app.token(t, tb), oauth.ACRTwoFactor, "pwd", "otp")
}
