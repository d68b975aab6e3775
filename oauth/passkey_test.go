package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// testClock is a settable time for the server under test.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// passkeyServer is the authorization server at http://localhost:PORT
// (an IP address cannot be an RP ID), with a settable clock.
type passkeyServer struct {
	*eventsServer
	clock  *testClock
	origin string
	bob    *Account
}

func startPasskeys(t *testing.T) *passkeyServer {
	t.Helper()
	ctx := context.Background()
	st := storeForTest(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	clk := &testClock{}
	rec := &recorder{}
	s, err := New(ctx, Config{BaseURL: origin + "/fhir", Records: st, Store: st, Events: rec, Now: clk.now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if s.rp == nil {
		t.Fatal("passkeys are off at localhost")
	}
	e := echo.New()
	e.Use(middleware.RequestID())
	s.Register(e, e.Group("/fhir"))
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ann, err := s.accounts.Add(ctx, annName, "patient", "Patient/pat-a", annPassword)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.accounts.Add(ctx, "bob", "patient", "Patient/pat-b", annPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.clients.Add(ctx, &Client{ID: "app", Name: "Test app", Type: ClientPublic, RedirectURIs: []string{eventsRedirect},
		Scopes: strings.Fields("launch/patient openid fhirUser offline_access patient/*.rs")}); err != nil {
		t.Fatal(err)
	}
	es := &eventsServer{Server: s, rec: rec, st: st, url: origin, ann: ann, base: origin + "/fhir"}
	return &passkeyServer{eventsServer: es, clock: clk, origin: origin, bob: bob}
}

// call posts JSON to a passkey endpoint as the page's script does.
func (b *browser) call(u, csrf string, body []byte) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(csrfHeader, csrf)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// signedIn is a browser signed in with a password just now, on the
// passkeys page; it returns the page's CSRF token.
func (ps *passkeyServer) signedIn(t *testing.T, user string) (*browser, string) {
	t.Helper()
	b := newBrowser(t)
	if resp, _ := ps.signIn(b, user, annPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	resp, page := b.do(http.MethodGet, ps.url+passkeysPath, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Add a passkey") {
		t.Fatalf("passkeys page: %d\n%s", resp.StatusCode, page)
	}
	return b, csrfOf(t, page)
}

// register adds key to the signed-in browser's account under name.
func (ps *passkeyServer) register(t *testing.T, b *browser, csrf string, key *softKey, name string) {
	t.Helper()
	status, opts := b.call(ps.url+"/oauth/passkeys/options", csrf, fmt.Appendf(nil, `{"name":%q}`, name))
	if status != http.StatusOK {
		t.Fatalf("registration options: %d %s", status, opts)
	}
	status, done := b.call(ps.url+"/oauth/passkeys/register", csrf, key.create(opts))
	if status != http.StatusOK || !strings.Contains(string(done), passkeysPath) {
		t.Fatalf("registration: %d %s", status, done)
	}
}

// passkeySession signs in with key in a new browser (a strong, fresh
// sign-in, which adding or removing a passkey needs once the account
// has one) and returns it with its passkeys page's CSRF token.
func (ps *passkeyServer) passkeySession(t *testing.T, key *softKey) (*browser, string) {
	t.Helper()
	status, body, b := ps.loginWith(t, key.get)
	if status != http.StatusOK {
		t.Fatalf("passkey sign-in: %d %s", status, body)
	}
	_, page := b.do(http.MethodGet, ps.url+passkeysPath, nil)
	return b, csrfOf(t, page)
}

// loginWith runs a usernameless sign-in in a new browser, answering with
// answer (key.get unless a test forges its own); it returns the final
// status, the body, and the browser.
func (ps *passkeyServer) loginWith(t *testing.T, answer func(opts []byte) []byte) (int, []byte, *browser) {
	t.Helper()
	b := newBrowser(t)
	_, page := b.do(http.MethodGet, ps.url+"/oauth/login?next=/oauth/signed-in", nil)
	csrf := csrfOf(t, page)
	status, opts := b.call(ps.url+"/oauth/passkey/login/options", csrf, []byte(`{"next":"/oauth/signed-in"}`))
	if status != http.StatusOK {
		t.Fatalf("login options: %d %s", status, opts)
	}
	status, body := b.call(ps.url+"/oauth/passkey/login", csrf, answer(opts))
	return status, body, b
}

func (ps *passkeyServer) session(t *testing.T, b *browser) *Login {
	t.Helper()
	u, _ := url.Parse(ps.url + "/oauth/")
	for _, ck := range b.c.Jar.Cookies(u) {
		if ck.Name == loginCookie && ck.Value != "" {
			r, err := ps.st.GetRecord(context.Background(), kindLogin, hashKey(ck.Value))
			if err != nil {
				return nil
			}
			var lg Login
			json.Unmarshal(r.Data, &lg)
			return &lg
		}
	}
	return nil
}

// TestPasskeyRegisterListAndSignIn: a user just signed in adds two named
// passkeys; the page lists them; a new browser signs in usernameless
// with either, straight to a phishing-resistant session (acr, amr hwk
// or swk and user) with no second-factor page; each step is audited.
func TestPasskeyRegisterListAndSignIn(t *testing.T) {
	ps := startPasskeys(t)
	b, csrf := ps.signedIn(t, annName)
	phone := newSoftKey(t, "localhost", ps.origin)
	phone.synced = true
	laptop := newSoftKey(t, "localhost", ps.origin)
	ps.register(t, b, csrf, phone, "My phone")
	if e := ps.rec.last(t, FactorEnrolled); !e.Success || e.Account != ps.ann.ID || e.Detail != "passkey added (swk); the account's other sessions and tokens ended" {
		t.Errorf("enrolment event %+v", e)
	}
	// A second passkey needs a strong sign-in: the first one.
	b, csrf = ps.passkeySession(t, phone)
	ps.register(t, b, csrf, laptop, "Work laptop")
	_, page := b.do(http.MethodGet, ps.url+passkeysPath+"?added=1", nil)
	for _, want := range []string{"My phone", "Work laptop", "can be copied to your other devices", "stays on one device", "Your passkey was added"} {
		if !strings.Contains(page, want) {
			t.Errorf("passkeys page lacks %q", want)
		}
	}
	if string(phone.userHandle) != ps.ann.ID {
		t.Errorf("user handle %q, want the account id", phone.userHandle)
	}

	for _, c := range []struct {
		key *softKey
		amr string
	}{{phone, "swk user"}, {laptop, "hwk user"}} {
		status, body, nb := ps.loginWith(t, c.key.get)
		if status != http.StatusOK || !strings.Contains(string(body), `"next":"/oauth/signed-in"`) {
			t.Fatalf("passkey sign-in: %d %s", status, body)
		}
		lg := ps.session(t, nb)
		if lg == nil || lg.Account != ps.ann.ID || lg.ACR != ACRPhishingResistant || strings.Join(lg.AMR, " ") != c.amr {
			t.Errorf("session %+v, want ann, phishing-resistant, %s", lg, c.amr)
		}
		if e := ps.rec.last(t, SignIn); !e.Success || e.Account != ps.ann.ID || e.Detail != "passkey ("+c.amr+")" {
			t.Errorf("sign-in event %+v", e)
		}
	}
	// The sign counts and the time of use are kept.
	keys, err := ps.passkeys.of(context.Background(), ps.ann.ID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("passkeys %v %v", keys, err)
	}
	// (the phone twice: once to add the laptop, once above).
	if keys[0].Credential.Authenticator.SignCount != 2 || keys[0].LastUsed.IsZero() || !keys[0].Credential.Flags.BackupState {
		t.Errorf("after use: %+v", keys[0].Credential)
	}
	ps.rec.never(t, annPassword)
}

// TestPasskeyRefusals: each way a passkey sign-in can be wrong is
// refused, and audited as a failed sign-in.
func TestPasskeyRefusals(t *testing.T) {
	ps := startPasskeys(t)
	b, csrf := ps.signedIn(t, annName)
	ann := newSoftKey(t, "localhost", ps.origin)
	ps.register(t, b, csrf, ann, "Ann's phone")
	bb, bcsrf := ps.signedIn(t, "bob")
	bob := newSoftKey(t, "localhost", ps.origin)
	ps.register(t, bb, bcsrf, bob, "Bob's phone")

	challenge := func(opts []byte) string {
		var o struct {
			PublicKey struct{ Challenge string } `json:"publicKey"`
		}
		json.Unmarshal(opts, &o)
		return o.PublicKey.Challenge
	}
	refused := func(t *testing.T, name string, status int, body []byte, want int, detail string) {
		t.Helper()
		if status != want {
			t.Errorf("%s: %d %s, want %d", name, status, body, want)
		}
		if e := ps.rec.last(t, SignIn); e.Success || e.Detail != detail {
			t.Errorf("%s: event %+v, want a failure %q", name, e, detail)
		}
	}

	t.Run("another user's credential id under ann's user handle", func(t *testing.T) {
		status, body, _ := ps.loginWith(t, func(opts []byte) []byte {
			bob.count++
			return bob.assert(challenge(opts), bob.credID, ann.userHandle)
		})
		refused(t, "", status, body, http.StatusUnauthorized, passkeyInvalid)
		if e := ps.rec.last(t, SignIn); e.Account != ps.ann.ID {
			t.Errorf("event names %q", e.Account)
		}
	})
	t.Run("ann's credential id signed with bob's key", func(t *testing.T) {
		status, body, _ := ps.loginWith(t, func(opts []byte) []byte {
			return bob.assert(challenge(opts), ann.credID, ann.userHandle)
		})
		refused(t, "", status, body, http.StatusUnauthorized, passkeyInvalid)
	})
	t.Run("an unknown user handle", func(t *testing.T) {
		status, body, _ := ps.loginWith(t, func(opts []byte) []byte {
			return ann.assert(challenge(opts), ann.credID, []byte("no-such-account"))
		})
		refused(t, "", status, body, http.StatusUnauthorized, passkeyUnknown)
	})
	t.Run("a replayed answer: the ceremony is used up", func(t *testing.T) {
		var answer []byte
		status, body, nb := ps.loginWith(t, func(opts []byte) []byte { answer = ann.get(opts); return answer })
		if status != http.StatusOK {
			t.Fatalf("first use: %d %s", status, body)
		}
		_, page := nb.do(http.MethodGet, ps.url+"/oauth/login", nil)
		status, body = nb.call(ps.url+"/oauth/passkey/login", csrfOf(t, page), answer)
		refused(t, "same browser", status, body, http.StatusBadRequest, passkeyNoCeremony)
		// In a new ceremony, the old answer signs the wrong challenge.
		status, body, _ = ps.loginWith(t, func([]byte) []byte { return answer })
		refused(t, "new ceremony", status, body, http.StatusUnauthorized, passkeyInvalid)
	})
	t.Run("an expired ceremony", func(t *testing.T) {
		status, body, _ := ps.loginWith(t, func(opts []byte) []byte {
			ps.clock.advance(ceremonyLife + time.Second)
			return ann.get(opts)
		})
		refused(t, "", status, body, http.StatusBadRequest, passkeyNoCeremony)
	})
	t.Run("a ceremony started in another browser", func(t *testing.T) {
		other := newBrowser(t)
		_, page := other.do(http.MethodGet, ps.url+"/oauth/login", nil)
		ocsrf := csrfOf(t, page)
		status, opts := other.call(ps.url+"/oauth/passkey/login/options", ocsrf, nil)
		if status != http.StatusOK {
			t.Fatal(status)
		}
		thief := newBrowser(t)
		_, page = thief.do(http.MethodGet, ps.url+"/oauth/login", nil)
		u, _ := url.Parse(ps.url + "/oauth/")
		for _, ck := range other.c.Jar.Cookies(u) {
			if ck.Name == ceremonyCookie {
				thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: ceremonyCookie, Value: ck.Value, Path: "/oauth"}})
			}
		}
		status, body := thief.call(ps.url+"/oauth/passkey/login", csrfOf(t, page), ann.get(opts))
		refused(t, "", status, body, http.StatusBadRequest, passkeyNoCeremony)
	})
	t.Run("a wrong origin", func(t *testing.T) {
		phish := *ann
		phish.origin = "http://localhost.evil.example"
		status, body, _ := ps.loginWith(t, phish.get)
		refused(t, "", status, body, http.StatusUnauthorized, passkeyInvalid)
		ann.count = phish.count
	})
	t.Run("a wrong RP ID", func(t *testing.T) {
		other := *ann
		other.rpID = "evil.example"
		status, body, _ := ps.loginWith(t, other.get)
		refused(t, "", status, body, http.StatusUnauthorized, passkeyInvalid)
		ann.count = other.count
	})
	t.Run("no user verification", func(t *testing.T) {
		lazy := *ann
		lazy.noUV = true
		status, body, _ := ps.loginWith(t, lazy.get)
		refused(t, "", status, body, http.StatusUnauthorized, passkeyInvalid)
		ann.count = lazy.count
	})
	t.Run("no CSRF header, or not JSON", func(t *testing.T) {
		nb := newBrowser(t)
		nb.do(http.MethodGet, ps.url+"/oauth/login", nil)
		if status, _ := nb.call(ps.url+"/oauth/passkey/login/options", "", nil); status != http.StatusForbidden {
			t.Errorf("no CSRF token: %d", status)
		}
		_, page := nb.do(http.MethodGet, ps.url+"/oauth/login", nil)
		req, _ := http.NewRequest(http.MethodPost, ps.url+"/oauth/passkey/login/options", strings.NewReader("next=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(csrfHeader, csrfOf(t, page))
		resp, err := nb.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("a form post: %d", resp.StatusCode)
		}
	})
	t.Run("a sign count going backwards, then refused until removed", func(t *testing.T) {
		ann.count = 10
		if status, body, _ := ps.loginWith(t, ann.get); status != http.StatusOK {
			t.Fatalf("count 11: %d %s", status, body)
		}
		ann.count = 3
		status, body, _ := ps.loginWith(t, ann.get)
		refused(t, "", status, body, http.StatusUnauthorized, passkeyCloned)
		if e := ps.rec.last(t, FactorUsed); e.Success || e.Account != ps.ann.ID || e.Detail != passkeyCloned {
			t.Errorf("factor event %+v", e)
		}
		ann.count = 50
		status, body, _ = ps.loginWith(t, ann.get)
		refused(t, "after the warning", status, body, http.StatusUnauthorized, passkeyCloned)
		_, page := b.do(http.MethodGet, ps.url+passkeysPath, nil)
		if !strings.Contains(page, "may have been copied") {
			t.Error("the page does not warn about the refused passkey")
		}
	})
	t.Run("a removed passkey", func(t *testing.T) {
		status, body, bb := ps.loginWith(t, bob.get)
		if status != http.StatusOK {
			t.Fatalf("before removal: %d %s", status, body)
		}
		_, page := bb.do(http.MethodGet, ps.url+passkeysPath, nil)
		id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(page)
		resp, page := bb.do(http.MethodPost, ps.url+"/oauth/passkeys/remove", url.Values{"csrf": {csrfOf(t, page)}, "id": {id[1]}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "was removed") {
			t.Fatalf("remove: %d\n%s", resp.StatusCode, page)
		}
		if e := ps.rec.last(t, FactorRemoved); !e.Success || e.Account != ps.bob.ID || !strings.HasPrefix(e.Detail, "passkey removed") {
			t.Errorf("removal event %+v", e)
		}
		status, body, _ = ps.loginWith(t, bob.get)
		refused(t, "", status, body, http.StatusUnauthorized, passkeyInvalid)
	})
}

// TestPasskeyManagementRules: adding or removing a passkey needs a
// recent sign-in; nobody renames or removes another's passkey; a name is
// required; ceremonies are rate-limited per address.
func TestPasskeyManagementRules(t *testing.T) {
	ps := startPasskeys(t)
	b, csrf := ps.signedIn(t, annName)
	key := newSoftKey(t, "localhost", ps.origin)
	if status, body := b.call(ps.url+"/oauth/passkeys/options", csrf, []byte(`{"name":"  "}`)); status != http.StatusBadRequest ||
		!strings.Contains(string(body), `"field":"passkey-name"`) {
		t.Errorf("no name: %d %s", status, body)
	}
	ps.register(t, b, csrf, key, "Phone")
	_, page := b.do(http.MethodGet, ps.url+passkeysPath, nil)
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(page)[1]

	// Bob can neither rename nor remove it.
	bb, bcsrf := ps.signedIn(t, "bob")
	for _, path := range []string{"/oauth/passkeys/rename", "/oauth/passkeys/remove"} {
		resp, _ := bb.do(http.MethodPost, ps.url+path, url.Values{"csrf": {bcsrf}, "id": {id}, "name": {"Mine now"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob %s: %d", path, resp.StatusCode)
		}
	}
	// A form without its token, or naming no passkey, changes nothing.
	for _, form := range []url.Values{{"csrf": {"forged"}, "id": {id}, "name": {"X"}}, {"csrf": {csrf}, "id": {"%%%"}, "name": {"X"}}} {
		want := map[bool]int{true: http.StatusBadRequest, false: http.StatusNotFound}[form.Get("csrf") == "forged"]
		for _, path := range []string{"/oauth/passkeys/rename", "/oauth/passkeys/remove"} {
			if resp, _ := b.do(http.MethodPost, ps.url+path, form); resp.StatusCode != want {
				t.Errorf("%s %v: %d, want %d", path, form, resp.StatusCode, want)
			}
		}
	}
	// Ann renames it without signing in again.
	ps.clock.advance(reauthWindow + time.Minute)
	resp, _ := b.do(http.MethodPost, ps.url+"/oauth/passkeys/rename", url.Values{"csrf": {csrf}, "id": {id}, "name": {"Blue phone"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("rename: %d", resp.StatusCode)
	}
	_, page = b.do(http.MethodGet, ps.url+passkeysPath, nil)
	if !strings.Contains(page, "Blue phone") || strings.Contains(page, "Remove “") || !strings.Contains(page, "Sign in again to add or remove a passkey") {
		t.Errorf("after rename, sign-in no longer recent:\n%s", page)
	}
	// Adding or removing now asks for a new sign-in.
	if status, body := b.call(ps.url+"/oauth/passkeys/options", csrf, []byte(`{"name":"Laptop"}`)); status != http.StatusForbidden ||
		!strings.Contains(string(body), `"reauth"`) {
		t.Errorf("add, sign-in not recent: %d %s", status, body)
	}
	resp, _ = b.do(http.MethodPost, ps.url+"/oauth/passkeys/remove", url.Values{"csrf": {csrf}, "id": {id}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("remove, sign-in not recent: %d", resp.StatusCode)
	}
	// The same passkey twice is refused (the browser would not make it;
	// a forged answer is refused by its id).
	b2, csrf2 := ps.passkeySession(t, key)
	status, opts := b2.call(ps.url+"/oauth/passkeys/options", csrf2, []byte(`{"name":"Again"}`))
	if status != http.StatusOK || !strings.Contains(string(opts), b64.EncodeToString(key.credID)) {
		t.Errorf("options do not exclude the registered passkey: %s", opts)
	}
	if status, body := b2.call(ps.url+"/oauth/passkeys/register", csrf2, key.create(opts)); status != http.StatusBadRequest {
		t.Errorf("same credential twice: %d %s", status, body)
	}
	if e := ps.rec.last(t, FactorEnrolled); e.Success {
		t.Errorf("refused registration event %+v", e)
	}

	// Rate limit: the address has used a few ceremonies already.
	nb := newBrowser(t)
	_, page = nb.do(http.MethodGet, ps.url+"/oauth/login", nil)
	ncsrf := csrfOf(t, page)
	limited := 0
	for range passkeyCeremonies + 1 {
		if status, _ := nb.call(ps.url+"/oauth/passkey/login/options", ncsrf, nil); status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("no ceremony refused past the limit")
	}
	ps.clock.advance(passkeyWindow)
	if status, _ := nb.call(ps.url+"/oauth/passkey/login/options", ncsrf, nil); status != http.StatusOK {
		t.Errorf("after the window: %d", status)
	}
}

// TestPasskeyAnswersStepUp: an app asking for a phishing-resistant
// sign-in (acr_values) sends a user signed in with a password to sign in
// again, told to use a passkey; the passkey's sign-in continues the
// same authorization, and its tokens say phishing-resistant with amr
// hwk and user. Asked for two factors, an account whose only second
// factor is a passkey is asked for it too.
func TestPasskeyAnswersStepUp(t *testing.T) {
	ps := startPasskeys(t)
	b, csrf := ps.signedIn(t, annName)
	key := newSoftKey(t, "localhost", ps.origin)
	ps.register(t, b, csrf, key, "Phone")

	for _, acr := range []string{ACRPhishingResistant, ACRTwoFactor} {
		t.Run(acr, func(t *testing.T) {
			verifier, challenge := pkce()
			q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {eventsRedirect}, "scope": {"openid fhirUser launch/patient patient/*.rs"},
				"state": {"state-12345678"}, "aud": {ps.base}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "acr_values": {acr}}
			resp, _ := b.do(http.MethodGet, ps.url+"/oauth/authorize?"+q.Encode(), nil)
			flowPath := resp.Header.Get("Location")
			resp, _ = b.do(http.MethodGet, ps.url+flowPath, nil)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/oauth/login?passkey=1&") {
				t.Fatalf("a password session asked for %s: %d %q", acr, resp.StatusCode, loc)
			}
			_, page := b.do(http.MethodGet, ps.url+loc, nil)
			if !strings.Contains(page, "This app asks you to sign in with a passkey") || !strings.Contains(page, `<script src="/oauth/passkey.js"`) {
				t.Fatalf("login page:\n%s", page)
			}
			pcsrf := csrfOf(t, page)
			next := regexp.MustCompile(`name="next" value="([^"]+)"`).FindStringSubmatch(page)[1]
			status, opts := b.call(ps.url+"/oauth/passkey/login/options", pcsrf, fmt.Appendf(nil, `{"next":%q}`, next))
			if status != http.StatusOK {
				t.Fatal(status)
			}
			status, body := b.call(ps.url+"/oauth/passkey/login", pcsrf, key.get(opts))
			if status != http.StatusOK || !strings.Contains(string(body), flowPath) {
				t.Fatalf("passkey sign-in: %d %s (flow %s)", status, body, flowPath)
			}
			resp, page = b.do(http.MethodGet, ps.url+flowPath, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="action"`) {
				t.Fatalf("after the passkey: %d\n%s", resp.StatusCode, page)
			}
			resp, _ = b.do(http.MethodPost, ps.url+flowPath, url.Values{"csrf": {csrfOf(t, page)}, "action": {"grant"}, "scope": {"patient/*.rs"}})
			code, err := resp.Location()
			if err != nil {
				t.Fatal(err)
			}
			status, tok := ps.exchange(t, code.Query().Get("code"), verifier)
			if status != http.StatusOK {
				t.Fatalf("token: %d %v", status, tok)
			}
			parts := strings.Split(tok["id_token"].(string), ".")
			payload, err := b64.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var claims struct {
				ACR string   `json:"acr"`
				AMR []string `json:"amr"`
			}
			json.Unmarshal(payload, &claims)
			if claims.ACR != ACRPhishingResistant || strings.Join(claims.AMR, " ") != "hwk user" {
				t.Errorf("id_token acr %q amr %v", claims.ACR, claims.AMR)
			}
			// Back to a password session for the next case.
			ps.signIn(b, annName, annPassword)
		})
	}
}
