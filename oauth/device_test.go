package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp/totp"

	"github.com/oncofhir/oncofhir/fhir"
)

// addressed sends every request of a browser as if from addr (the test
// servers read X-Forwarded-For: echo without an IP extractor does).
type addressed struct {
	addr string
	next http.RoundTripper
}

func (a *addressed) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", a.addr)
	return a.next.RoundTrip(r)
}

// deviceBrowser is a browser at a network address that can move.
func deviceBrowser(t *testing.T, addr string) (*browser, *addressed) {
	b := newBrowser(t)
	a := &addressed{addr: addr, next: http.DefaultTransport}
	b.c.Transport = a
	return b, a
}

// withTOTP gives an account an authenticator app and returns a function
// that types the code of the server's present moment.
func (ps *passkeyServer) withTOTP(t *testing.T, username string) func() string {
	t.Helper()
	ctx := context.Background()
	if _, err := ps.accounts.EnrollTOTP(ctx, username); err != nil {
		t.Fatal(err)
	}
	a, err := ps.accounts.ByUsername(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	return func() string {
		c, err := totp.GenerateCodeCustom(a.TOTPSecret, ps.clock.now(), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// password posts the sign-in form: the answer, and whether it is the
// code page.
func (ps *passkeyServer) password(b *browser, user string) (*http.Response, string, bool) {
	resp, page := ps.signIn(b, user, annPassword)
	return resp, page, strings.Contains(page, `action="/oauth/login/code"`)
}

// code answers the code page, ticking "Trust this device" when trust.
func (ps *passkeyServer) code(t *testing.T, b *browser, page, code string, trust bool) *http.Response {
	t.Helper()
	form := url.Values{"csrf": {csrfOf(t, page)}, "code": {code}}
	if trust {
		form.Set("trust", "1")
	}
	resp, body := b.do(http.MethodPost, ps.url+"/oauth/login/code", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code: %d\n%s", resp.StatusCode, body)
	}
	ps.clock.advance(31 * time.Second) // the next code is a new step
	return resp
}

// trusted signs in with password and code, trusting the browser.
func (ps *passkeyServer) trusted(t *testing.T, b *browser, user string, code func() string) {
	t.Helper()
	_, page, asked := ps.password(b, user)
	if !asked {
		t.Fatalf("first sign-in did not ask for the code:\n%s", page)
	}
	ps.code(t, b, page, code(), true)
}

// shortcut tells whether a routine sign-in skips the code, and checks
// the session it then makes.
func (ps *passkeyServer) shortcut(t *testing.T, b *browser, user string) bool {
	t.Helper()
	resp, page, asked := ps.password(b, user)
	if asked {
		return false
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", resp.StatusCode, page)
	}
	lg := ps.session(t, b)
	if lg == nil || lg.ACR != ACRTwoFactor || strings.Join(lg.AMR, " ") != "pwd "+AMRTrustedDevice {
		t.Fatalf("trusted-device session %+v", lg)
	}
	return true
}

func cookieOf(b *browser, base, name string) *http.Cookie {
	u, _ := url.Parse(base + "/oauth/")
	for _, ck := range b.c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// TestTrustedDeviceShortcut: after a code with "Trust this device"
// ticked, a routine sign-in from that browser skips the code, with acr
// two factors and amr pwd and x-trusted-device, which is never strong;
// the token is kept only as its hash; trust and use are audited.
func TestTrustedDeviceShortcut(t *testing.T) {
	ps := startPasskeys(t)
	code := ps.withTOTP(t, annName)
	b, _ := deviceBrowser(t, "198.51.100.7")

	_, page, asked := ps.password(b, annName)
	if !asked || !strings.Contains(page, `name="trust"`) || !strings.Contains(page, "Trust this device for 30 days") {
		t.Fatalf("code page without the trust box:\n%s", page)
	}
	if e := ps.rec.last(t, RiskAssessed); e.Account != ps.ann.ID ||
		e.Detail != "signals: new-device new-network; no trusted device; authenticator or recovery code asked" {
		t.Errorf("first sign-in assessed %+v", e)
	}
	resp := ps.code(t, b, page, code(), true)
	var set *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == deviceCookie {
			set = ck
		}
	}
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/oauth" || len(set.Value) < 43 ||
		set.MaxAge < 29*24*3600 {
		t.Fatalf("trust cookie %+v", set)
	}
	if e := ps.rec.last(t, DeviceTrusted); !e.Success || e.Account != ps.ann.ID {
		t.Errorf("trust event %+v", e)
	}
	found, _ := ps.st.FindRecords(context.Background(), kindDevice, "account", ps.ann.ID)
	if len(found) != 1 || found[0].Key != hashKey(set.Value) || strings.Contains(string(found[0].Data), set.Value) {
		t.Fatalf("stored devices %+v", found)
	}

	if !ps.shortcut(t, b, annName) {
		t.Fatal("a routine sign-in from the trusted device asked for the code")
	}
	if e := ps.rec.last(t, RiskAssessed); e.Detail != "signals: none; trusted device used; no second factor asked" {
		t.Errorf("shortcut assessed %+v", e)
	}
	if e := ps.rec.last(t, SignIn); !e.Success || e.Detail != "password on a trusted device" {
		t.Errorf("sign-in event %+v", e)
	}
	lg := ps.session(t, b)
	if StrongAuthentication(lg.ACR, lg.AMR) {
		t.Error("a trusted-device sign-in counts as strong")
	}
	ps.rec.never(t, set.Value, annPassword)

	// Unticked, the box trusts nothing.
	b2, _ := deviceBrowser(t, "198.51.100.7")
	_, page, _ = ps.password(b2, annName)
	ps.code(t, b2, page, code(), false)
	if cookieOf(b2, ps.url, deviceCookie) != nil {
		t.Error("a sign-in without the box ticked set a trust token")
	}
	if ps.shortcut(t, b2, annName) {
		t.Error("an untrusted browser skipped the code")
	}
}

// TestRiskSignalsRemoveShortcut: a new network, an unusual hour, recent
// failures, an expired token and another account's token each cost the
// trusted device its shortcut, and each decision is audited with the
// signal's name.
func TestRiskSignalsRemoveShortcut(t *testing.T) {
	ps := startPasskeys(t)
	code := ps.withTOTP(t, annName)
	bobCode := ps.withTOTP(t, "bob")
	b, at := deviceBrowser(t, "198.51.100.7")
	ps.trusted(t, b, annName, code)

	refusedFor := func(t *testing.T, signal string) {
		t.Helper()
		_, page, asked := ps.password(b, annName)
		if !asked {
			t.Fatalf("%s: the code was not asked", signal)
		}
		e := ps.rec.last(t, RiskAssessed)
		if !strings.Contains(e.Detail, signal) || !strings.Contains(e.Detail, "trusted device refused") ||
			!strings.HasSuffix(e.Detail, "authenticator or recovery code asked") {
			t.Errorf("%s: assessed %q", signal, e.Detail)
		}
		ps.code(t, b, page, code(), false) // a real second factor: the place and hour become known
	}

	t.Run("a new network → the code", func(t *testing.T) {
		at.addr = "203.0.113.50"
		refusedFor(t, SignalNewNetwork)
		// The same /24 later is known; the shortcut is back.
		at.addr = "203.0.113.99"
		if !ps.shortcut(t, b, annName) {
			t.Error("a network seen before still refused the shortcut")
		}
		at.addr = "2001:db8:1:2::5"
		refusedFor(t, SignalNewNetwork)
		at.addr = "2001:db8:1:2:ffff::1" // the same /64
		if !ps.shortcut(t, b, annName) {
			t.Error("an IPv6 /64 seen before still refused the shortcut")
		}
	})
	t.Run("recent failures → the code", func(t *testing.T) {
		if resp, _ := ps.signIn(b, annName, "not the password"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
		refusedFor(t, SignalRecentFailures)
		if !ps.shortcut(t, b, annName) {
			t.Error("after a success, old failures still refuse the shortcut")
		}
	})
	t.Run("an unusual hour → the code, once 5 sign-ins are known", func(t *testing.T) {
		h, _, _ := ps.history(context.Background(), ps.ann.ID)
		if len(h.Seen) < minHistoryForHours {
			t.Fatalf("history of %d sign-ins", len(h.Seen))
		}
		ps.clock.advance(time.Hour)
		if !ps.shortcut(t, b, annName) {
			t.Error("the hour after a known one refused the shortcut")
		}
		ps.clock.advance(12 * time.Hour)
		refusedFor(t, SignalUnusualHour)
		if !ps.shortcut(t, b, annName) {
			t.Error("an hour seen before still refused the shortcut")
		}
	})
	t.Run("another account's token in the same browser → nothing", func(t *testing.T) {
		_, page, asked := ps.password(b, "bob")
		if !asked {
			t.Fatal("bob skipped the code with ann's trusted device")
		}
		if e := ps.rec.last(t, RiskAssessed); e.Account != ps.bob.ID || !strings.Contains(e.Detail, "no trusted device") ||
			!strings.Contains(e.Detail, SignalNewDevice) {
			t.Errorf("bob assessed %+v", e)
		}
		ps.code(t, b, page, bobCode(), false)
		if !ps.shortcut(t, b, annName) {
			t.Error("ann's trust ended when bob signed in on the device")
		}
	})
	t.Run("an expired token → the code", func(t *testing.T) {
		ps.clock.advance(DefaultTrustedDeviceLife + time.Hour)
		_, _, asked := ps.password(b, annName)
		if !asked {
			t.Fatal("an expired trust token skipped the code")
		}
		if e := ps.rec.last(t, RiskAssessed); !strings.Contains(e.Detail, "no trusted device") {
			t.Errorf("assessed %q", e.Detail)
		}
	})
}

// TestUnusualHourNeedsHistory: with fewer than 5 sign-ins known, no hour
// is unusual.
func TestUnusualHourNeedsHistory(t *testing.T) {
	ps := startPasskeys(t)
	code := ps.withTOTP(t, annName)
	b, _ := deviceBrowser(t, "198.51.100.7")
	ps.trusted(t, b, annName, code)
	ps.clock.advance(12 * time.Hour)
	if !ps.shortcut(t, b, annName) {
		t.Errorf("one sign-in known made an hour unusual: %q", ps.rec.last(t, RiskAssessed).Detail)
	}
}

// TestTrustedDeviceRevocation: the devices page lists a device by name
// and dates (never its token), revokes one or all; signing out
// everywhere and a new password revoke them too; each is audited.
func TestTrustedDeviceRevocation(t *testing.T) {
	ps := startPasskeys(t)
	code := ps.withTOTP(t, annName)
	const firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	b, _ := deviceBrowser(t, "198.51.100.7")
	b.c.Transport = uaTransport{ua: firefox, next: b.c.Transport}
	ps.trusted(t, b, annName, code)
	other, _ := deviceBrowser(t, "198.51.100.7")
	ps.trusted(t, other, annName, code)

	_, page := b.do(http.MethodGet, ps.url+devicesPath, nil)
	token := cookieOf(b, ps.url, deviceCookie).Value
	if !strings.Contains(page, "Firefox on Windows (this device)") || !strings.Contains(page, "Trusted since") ||
		strings.Contains(page, token) || strings.Contains(page, hashKey(token)) || strings.Contains(page, "Gecko") {
		t.Fatalf("devices page:\n%s", page)
	}
	// Signed out, the page asks to sign in.
	if resp, _ := newBrowser(t).do(http.MethodGet, ps.url+devicesPath, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("devices page signed out: %d", resp.StatusCode)
	}
	// A form without its CSRF token does nothing.
	if resp, _ := b.do(http.MethodPost, ps.url+"/oauth/devices/revoke", url.Values{"all": {"1"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("revoke without CSRF: %d", resp.StatusCode)
	}
	if !ps.shortcut(t, b, annName) {
		t.Fatal("the shortcut is gone after a refused form")
	}

	t.Run("revoke one", func(t *testing.T) {
		_, page := b.do(http.MethodGet, ps.url+devicesPath, nil)
		ids := regexpAll(`name="id" value="([^"]+)"`, page)
		if len(ids) != 2 {
			t.Fatalf("%d devices listed", len(ids))
		}
		n := ps.rec.count(DeviceRevoked)
		// Devices are listed oldest first: this one's row is the first.
		resp, page := b.do(http.MethodPost, ps.url+"/oauth/devices/revoke", url.Values{"csrf": {csrfOf(t, page)}, "id": {ids[0]}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "is no longer trusted") {
			t.Fatalf("revoke one: %d\n%s", resp.StatusCode, page)
		}
		if ps.rec.count(DeviceRevoked) != n+1 || ps.rec.last(t, DeviceRevoked).Detail != revokedByUser {
			t.Errorf("revocation event %+v", ps.rec.last(t, DeviceRevoked))
		}
		if ps.shortcut(t, b, annName) {
			t.Error("a revoked device skipped the code")
		}
		if !ps.shortcut(t, other, annName) {
			t.Error("revoking one device ended another")
		}
	})
	t.Run("revoke all", func(t *testing.T) {
		_, page := other.do(http.MethodGet, ps.url+devicesPath, nil)
		resp, page := other.do(http.MethodPost, ps.url+"/oauth/devices/revoke", url.Values{"csrf": {csrfOf(t, page)}, "all": {"1"}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You trust no device") {
			t.Fatalf("revoke all: %d\n%s", resp.StatusCode, page)
		}
		if ps.shortcut(t, other, annName) {
			t.Error("after revoking all, a device skipped the code")
		}
	})
	t.Run("sign out everywhere", func(t *testing.T) {
		ps.trusted(t, b, annName, code)
		_, page := b.do(http.MethodGet, ps.url+"/oauth/signed-in", nil)
		if !strings.Contains(page, `href="/oauth/devices"`) {
			t.Error("the account page does not link the devices page")
		}
		n := ps.rec.count(DeviceRevoked)
		b.do(http.MethodPost, ps.url+"/oauth/logout-everywhere", url.Values{"csrf": {csrfOf(t, page)}})
		if ps.rec.count(DeviceRevoked) != n+1 || ps.rec.last(t, DeviceRevoked).Detail != revokedEverywhere {
			t.Errorf("revocation event %+v", ps.rec.last(t, DeviceRevoked))
		}
		if ps.shortcut(t, b, annName) {
			t.Error("after signing out everywhere, a device skipped the code")
		}
	})
	t.Run("a new password", func(t *testing.T) {
		ps.trusted(t, b, annName, code)
		n := ps.rec.count(DeviceRevoked)
		if err := ps.accounts.SetPassword(context.Background(), annName, annPassword); err != nil {
			t.Fatal(err)
		}
		if ps.rec.count(DeviceRevoked) != n+1 || ps.rec.last(t, DeviceRevoked).Detail != revokedAccount {
			t.Errorf("revocation event %+v", ps.rec.last(t, DeviceRevoked))
		}
		if ps.shortcut(t, b, annName) {
			t.Error("after a new password, a device skipped the code")
		}
	})
}

type uaTransport struct {
	ua   string
	next http.RoundTripper
}

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

// TestRiskAsksPasskey: with a signal, an account with a passkey and an
// authenticator is sent to sign in with the passkey, not the code page.
func TestRiskAsksPasskey(t *testing.T) {
	ps := startPasskeys(t)
	code := ps.withTOTP(t, annName)
	b, at := deviceBrowser(t, "198.51.100.7")
	ps.trusted(t, b, annName, code)
	_, page := b.do(http.MethodGet, ps.url+passkeysPath, nil)
	ps.register(t, b, csrfOf(t, page), newSoftKey(t, "localhost", ps.origin), "Phone")

	at.addr = "203.0.113.50"
	resp, page, asked := ps.password(b, annName)
	loc := resp.Header.Get("Location")
	if asked || resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "passkey=1") || !strings.Contains(loc, "risk=1") {
		t.Fatalf("new network with a passkey: %d %s\n%s", resp.StatusCode, loc, page)
	}
	if e := ps.rec.last(t, RiskAssessed); e.Detail != "signals: new-network; trusted device refused; passkey asked" {
		t.Errorf("assessed %q", e.Detail)
	}
	_, page = b.do(http.MethodGet, ps.url+loc, nil)
	if !strings.Contains(page, "a network or a time we have not seen") {
		t.Errorf("passkey prompt:\n%s", page)
	}
}

func regexpAll(pattern, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestStepUpRefusesTrustedDevice: the API's step-up answers a trusted
// device's token with 401 insufficient_user_authentication; a real
// second factor passes.
func TestStepUpRefusesTrustedDevice(t *testing.T) {
	ps := startPasskeys(t)
	for _, c := range []struct {
		name string
		amr  []string
		want int
	}{
		{"password and trusted device → 401", []string{"pwd", AMRTrustedDevice}, http.StatusUnauthorized},
		{"password and code → through", []string{"pwd", "otp"}, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := echo.New()
			req := httptest.NewRequest(http.MethodGet, "/fhir/Patient/pat-a/$everything", nil)
			req = req.WithContext(fhir.WithPrincipal(req.Context(), &fhir.Principal{Subject: ps.ann.ID, Client: "app",
				ACR: ACRTwoFactor, AMR: c.amr, AuthTime: ps.clock.now()}))
			rec := httptest.NewRecorder()
			ctx := e.NewContext(req, rec)
			ctx.SetPath("/fhir/Patient/:id/$everything")
			err := ps.StepUp(func(c echo.Context) error { return c.NoContent(http.StatusOK) })(ctx)
			status := rec.Code
			var fe *fhir.Error
			if err != nil {
				status = http.StatusUnauthorized
				if !errors.As(err, &fe) {
					t.Fatalf("error %v", err)
				}
			}
			if status != c.want {
				t.Errorf("status %d, want %d", status, c.want)
			}
			if c.want == http.StatusUnauthorized && !strings.Contains(rec.Header().Get("WWW-Authenticate"), "insufficient_user_authentication") {
				t.Errorf("challenge %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name                         string
		signals                      []string
		trusted, hasPasskey, hasCode bool
		want                         riskOutcome
	}{
		{"trusted, no signal → nothing more", nil, true, true, true, askNothing},
		{"trusted, a signal, a passkey and a code → the passkey", []string{SignalNewNetwork}, true, true, true, askPasskey},
		{"trusted, a signal, a code only → the code", []string{SignalUnusualHour}, true, false, true, askCodePage},
		{"not trusted, no signal → the code", nil, false, true, true, askCodePage},
		{"passkey only, a signal → the passkey later", []string{SignalNewDevice}, false, true, false, askLater},
		{"passkey only, trusted, no signal → nothing more", nil, true, true, false, askNothing},
	} {
		if got := decide(c.signals, c.trusted, c.hasPasskey, c.hasCode); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestNetworkOf(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":        "198.51.100.0/24",
		"::ffff:198.51.100.7": "198.51.100.0/24",
		"2001:db8:1:2:3::4":   "2001:db8:1:2::/64",
		"not an address":      "unknown",
	} {
		if got := networkOf(in); got != want {
			t.Errorf("networkOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeviceName(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari on iPhone",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36":                   "Chrome on Android",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0":           "Edge on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15":                      "Safari on Mac",
		"Go-http-client/1.1": "A web browser",
		"":                   "A web browser",
	} {
		if got := deviceName(ua); got != want {
			t.Errorf("deviceName(%q) = %q, want %q", ua, got, want)
		}
	}
}

// An hour of day is near another when they are the same or next to each
// other, midnight included.
func TestNearHour(t *testing.T) {
	for _, c := range []struct {
		a, b int
		near bool
	}{{9, 9, true}, {9, 10, true}, {10, 9, true}, {23, 0, true}, {0, 23, true},
		{9, 11, false}, {11, 9, false}, {22, 0, false}, {0, 22, false}, {3, 15, false}} {
		if got := nearHour(c.a, c.b); got != c.near {
			t.Errorf("nearHour(%d, %d) = %v", c.a, c.b, got)
		}
	}
}

// The history keeps hashes only, and no more than historySize entries.
func TestHistoryBounded(t *testing.T) {
	ps := startPasskeys(t)
	code := ps.withTOTP(t, annName)
	b, _ := deviceBrowser(t, "198.51.100.7")
	ps.trusted(t, b, annName, code)
	for range historySize + 3 {
		if !ps.shortcut(t, b, annName) {
			t.Fatal("shortcut refused")
		}
	}
	r, err := ps.st.GetRecord(context.Background(), kindHistory, ps.ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	var h signInHistory
	json.Unmarshal(r.Data, &h)
	if len(h.Seen) != historySize {
		t.Errorf("%d entries kept", len(h.Seen))
	}
	if strings.Contains(string(r.Data), "198.51.100") || strings.Contains(string(r.Data), cookieOf(b, ps.url, deviceIDCookie).Value) {
		t.Errorf("history holds an address or a cookie: %s", r.Data)
	}
}

// TestTrustedDeviceCannotChangePasskeys: a trusted-device session may
// not add or remove passkeys; signing in again for the passkeys page
// asks for the code, even on the trusted device.
func TestTrustedDeviceCannotChangePasskeys(t *testing.T) {
	ps := startPasskeys(t)
	code := ps.withTOTP(t, annName)
	b, _ := deviceBrowser(t, "198.51.100.7")
	ps.trusted(t, b, annName, code)
	if !ps.shortcut(t, b, annName) {
		t.Fatal("shortcut refused")
	}
	_, page := b.do(http.MethodGet, ps.url+passkeysPath, nil)
	if !strings.Contains(page, "Sign in again to add or remove a passkey") {
		t.Fatalf("a trusted-device session may change passkeys:\n%s", page)
	}
	_, account := b.do(http.MethodGet, ps.url+"/oauth/signed-in", nil)
	if status, body := b.call(ps.url+"/oauth/passkeys/options", csrfOf(t, account), []byte(`{"name":"Mine"}`)); status != http.StatusForbidden {
		t.Errorf("add with a trusted-device session: %d %s", status, body)
	}
	_, page = b.do(http.MethodGet, ps.url+"/oauth/login?next="+passkeysPath, nil)
	_, page = b.do(http.MethodPost, ps.url+"/oauth/login", url.Values{"csrf": {csrfOf(t, page)}, "next": {passkeysPath},
		"username": {annName}, "password": {annPassword}})
	if !strings.Contains(page, `action="/oauth/login/code"`) {
		t.Fatalf("signing in again for the passkeys page skipped the code:\n%s", page)
	}
	ps.code(t, b, page, code(), false)
	_, page = b.do(http.MethodGet, ps.url+passkeysPath, nil)
	if !strings.Contains(page, "Add a passkey") || strings.Contains(page, "Sign in again to add") {
		t.Errorf("after the code, passkeys still locked:\n%s", page)
	}
}
