package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// Trusted devices and risk signals, end to end. The server trusts the
// loopback proxy (--trusted-proxies 127.0.0.1/32), so each test browser
// says which network it is on through X-Forwarded-For.

// fromAddr sends a browser's requests as from *addr.
type fromAddr struct {
	addr *string
	next http.RoundTripper
}

func (f fromAddr) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", *f.addr)
	return f.next.RoundTrip(r)
}

// startTrusting is startSMART behind a trusted loopback proxy.
func startTrusting(t *testing.T) *smartServer {
	t.Helper()
	return startSMARTWith(t, func(c *Config) {
		_, loop, _ := net.ParseCIDR("127.0.0.1/32")
		c.TrustedProxies = []*net.IPNet{loop}
	})
}

// browserAt is a cookie-keeping browser on network *addr (which the test
// may change).
func browserAt(t *testing.T, addr string) (*http.Client, *string) {
	b := browser(t)
	a := &addr
	b.Transport = fromAddr{addr: a, next: http.DefaultTransport}
	return b, a
}

// launch is an authorization request of the test app, with extra
// parameters (prompt, max_age, acr_values).
type launch struct {
	conf     *oauth2.Config
	verifier string
	url      string
}

func (s *smartServer) appLaunch(extra ...string) launch {
	conf := s.oauthConfig("launch/patient openid fhirUser patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir")}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	return launch{conf: conf, verifier: verifier, url: conf.AuthCodeURL("state-12345678", opts...)}
}

// trustHere signs ann in with password and code, ticking "Trust this
// device", and returns the page after (the authorization page).
func (s *smartServer) trustHere(t *testing.T, b *http.Client, l launch) (*http.Response, string) {
	t.Helper()
	resp, body := signInPassword(t, b, l.url, "ann", "correct horse battery")
	if !isCodePage(body) || !strings.Contains(body, "Trust this device for 30 days") {
		t.Fatalf("expected the code page with the trust box, got %d:\n%s", resp.StatusCode, body)
	}
	resp, err := b.PostForm(s.base+"/oauth/login/code", url.Values{"csrf": {pageCSRF(t, body)}, "code": {s.code(t, "ann")}, "trust": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// routine signs ann in from b with her password alone, and tells whether
// that was enough (the authorization page came, no code page).
func routine(t *testing.T, b *http.Client, l launch) (bool, *http.Response, string) {
	t.Helper()
	resp, body := signInPassword(t, b, l.url, "ann", "correct horse battery")
	if isCodePage(body) {
		return false, resp, body
	}
	if !strings.Contains(body, "Allow Test app") {
		t.Fatalf("after the password: %d\n%s", resp.StatusCode, body)
	}
	return true, resp, body
}

// grant allows the app on its authorization page and exchanges the code.
func (s *smartServer) grant(t *testing.T, b *http.Client, l launch, resp *http.Response, body string) *oauth2.Token {
	t.Helper()
	resp, err := b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"},
		"scope": {"patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect to the app: %d", resp.StatusCode)
	}
	tok, err := l.conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(l.verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signOut ends b's sign-in session (its trusted device stays).
func (s *smartServer) signOut(t *testing.T, b *http.Client) {
	t.Helper()
	resp, err := b.Get(s.base + "/oauth/signed-in")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp, err = b.PostForm(s.base+"/oauth/logout", url.Values{"csrf": {pageCSRF(t, body)}}); err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
}

// riskDecisions are the details of the risk-assessed events, oldest first.
func riskDecisions(t *testing.T, s *smartServer) []string {
	t.Helper()
	var out []string
	for _, ev := range auditEvents(t, s, "_sort=date") {
		if d := str(ev["outcomeDesc"]); strings.HasPrefix(d, "signals: ") {
			out = append(out, d)
		}
	}
	return out
}

func lastDecision(t *testing.T, s *smartServer) string {
	t.Helper()
	d := riskDecisions(t, s)
	if len(d) == 0 {
		t.Fatal("no risk-assessed event")
	}
	return d[len(d)-1]
}

// TestTrustedDeviceSkipsCodeForRoutineSignIns: after a code with "Trust
// this device" ticked, a routine authorization from that browser needs
// only the password; its token works for routine reads but the API's
// step-up ($everything, a restricted-labelled resource) answers 401
// insufficient_user_authentication; both the trust and the decision are
// in the audit trail.
func TestTrustedDeviceSkipsCodeForRoutineSignIns(t *testing.T) {
	s := startTrusting(t)
	ctx := context.Background()
	if _, err := s.ensureResource(ctx, "Observation", "obs-r", `{"resourceType":"Observation","id":"obs-r","meta":{"security":[`+
		`{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},"status":"final","code":{"text":"HIV test"},`+
		`"subject":{"reference":"Patient/pat-a"}}`); err != nil {
		t.Fatal(err)
	}
	b, _ := browserAt(t, "198.51.100.7")
	l := s.appLaunch()
	resp, body := s.trustHere(t, b, l)
	strong := s.grant(t, b, l, resp, body)
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-r", strong.AccessToken); status != 200 {
		t.Fatalf("a token after a real second factor reads the labelled Observation: %d", status)
	}
	s.signOut(t, b)

	l = s.appLaunch()
	skipped, resp, body := routine(t, b, l)
	if !skipped {
		t.Fatalf("a routine sign-in on the trusted device asked for the code:\n%s", body)
	}
	tok := s.grant(t, b, l, resp, body)
	status, intro, _ := postForm(t, s.Main, "/oauth/introspect", url.Values{"token": {tok.AccessToken}}, http.Header{"Authorization": {"Bearer " + systemToken(t, s.Main)}})
	amr, _ := json.Marshal(intro["amr"])
	if status != 200 || intro["acr"] != oauth.ACRTwoFactor || string(amr) != `["pwd","`+oauth.AMRTrustedDevice+`"]` {
		t.Errorf("introspection: %d acr %v amr %s", status, intro["acr"], amr)
	}
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-a", tok.AccessToken); status != 200 {
		t.Errorf("a trusted-device token reads a routine Observation: %d", status)
	}
	for _, path := range []string{"/Patient/pat-a/$everything", "/Observation/obs-r"} {
		status, _, h := fhirGet(t, s.base, path, tok.AccessToken)
		if ch := h.Get("WWW-Authenticate"); status != 401 || !strings.Contains(ch, `error="insufficient_user_authentication"`) ||
			!strings.Contains(ch, `error_description="A sign-in with two factors is required"`) {
			t.Errorf("%s with a trusted-device token: %d %q", path, status, ch)
		}
	}
	d := riskDecisions(t, s)
	if len(d) != 2 || d[0] != "signals: new-device new-network; no trusted device; authenticator or recovery code asked" ||
		d[1] != "signals: none; trusted device used; no second factor asked" {
		t.Errorf("risk decisions %q", d)
	}
	trusted := 0
	for _, ev := range auditEvents(t, s, "") {
		if str(ev["outcomeDesc"]) == "device trusted for routine sign-ins" {
			trusted++
		}
	}
	if trusted != 1 {
		t.Errorf("%d device-trusted events", trusted)
	}
}

// TestTrustedDeviceNeverStepsUp: prompt=login, max_age=0, acr_values
// and a client that requires phishing-resistant each ask for a real
// factor, trusted device or not.
func TestTrustedDeviceNeverStepsUp(t *testing.T) {
	s := startTrusting(t)
	if _, err := s.OAuth.Clients().Add(context.Background(), &oauth.Client{ID: "strict", Name: "Strict app", Type: oauth.ClientPublic,
		RedirectURIs: []string{appRedirect}, RequireACR: oauth.ACRPhishingResistant,
		Scopes: strings.Fields("launch/patient openid fhirUser patient/*.rs")}); err != nil {
		t.Fatal(err)
	}
	b, _ := browserAt(t, "198.51.100.7")
	l := s.appLaunch()
	s.trustHere(t, b, l)
	s.signOut(t, b)
	if skipped, _, _ := routine(t, b, s.appLaunch()); !skipped {
		t.Fatal("the routine sign-in asked for the code")
	}
	for _, c := range [][]string{
		{"prompt", "login"},
		{"max_age", "0"},
		{"acr_values", oauth.ACRPhishingResistant},
		{"acr_values", oauth.ACRTwoFactor},
	} {
		t.Run(c[0]+"="+c[1]+" → the code", func(t *testing.T) {
			s.signOut(t, b)
			_, body := signInPassword(t, b, s.appLaunch(c...).url, "ann", "correct horse battery")
			if !isCodePage(body) {
				t.Fatalf("the trusted device stood in for the second factor:\n%s", body)
			}
		})
	}
	t.Run("a client requiring phishing-resistant → never the trusted device", func(t *testing.T) {
		s.signOut(t, b)
		conf := s.oauthConfig("launch/patient openid patient/*.rs")
		conf.ClientID = "strict"
		u := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", s.base+"/fhir"))
		resp, body := signInPassword(t, b, u, "ann", "correct horse battery")
		if strings.Contains(body, "Allow Strict app") || !strings.Contains(body, "This app needs a passkey") {
			t.Fatalf("strict client after a trusted-device sign-in: %d\n%s", resp.StatusCode, body)
		}
	})
}

// TestTrustedDeviceEnds: revoking all on the devices page, signing out
// everywhere, a new password, a new authenticator, the token's expiry
// each end the shortcut; another account's token in the same browser
// gives nothing.
func TestTrustedDeviceEnds(t *testing.T) {
	s := startTrusting(t)
	ctx := context.Background()
	b, _ := browserAt(t, "198.51.100.7")
	rec := s.Store.(fhir.Records)
	retrust := func(t *testing.T) {
		t.Helper()
		s.signOut(t, b)
		s.trustHere(t, b, s.appLaunch())
		s.signOut(t, b)
		if skipped, _, _ := routine(t, b, s.appLaunch()); !skipped {
			t.Fatal("the routine sign-in asked for the code")
		}
	}
	ended := func(t *testing.T) {
		t.Helper()
		s.signOut(t, b)
		if skipped, _, _ := routine(t, b, s.appLaunch()); skipped {
			t.Fatal("the trusted device still skipped the code")
		}
		if d := lastDecision(t, s); !strings.Contains(d, "no trusted device") {
			t.Errorf("decision %q", d)
		}
	}
	accountPage := func(t *testing.T, path string) string {
		t.Helper()
		resp, err := b.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, body)
		}
		return body
	}

	t.Run("revoke all on the devices page", func(t *testing.T) {
		retrust(t)
		page := accountPage(t, "/oauth/devices")
		if !strings.Contains(page, "(this device)") || !strings.Contains(page, "Trusted since") {
			t.Fatalf("devices page:\n%s", page)
		}
		resp, err := b.PostForm(s.base+"/oauth/devices/revoke", url.Values{"csrf": {pageCSRF(t, page)}, "all": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); !strings.Contains(body, "You trust no device") {
			t.Fatalf("after revoking all:\n%s", body)
		}
		ended(t)
	})
	t.Run("sign out everywhere", func(t *testing.T) {
		retrust(t)
		page := accountPage(t, "/oauth/signed-in")
		resp, err := b.PostForm(s.base+"/oauth/logout-everywhere", url.Values{"csrf": {pageCSRF(t, page)}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		ended(t)
	})
	t.Run("a new password", func(t *testing.T) {
		retrust(t)
		if err := s.OAuth.Accounts().SetPassword(ctx, "ann", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		ended(t)
	})
	t.Run("a new authenticator", func(t *testing.T) {
		retrust(t)
		if _, err := s.OAuth.Accounts().EnrollTOTP(ctx, "ann"); err != nil {
			t.Fatal(err)
		}
		ended(t)
	})
	t.Run("an expired token", func(t *testing.T) {
		retrust(t)
		found, err := rec.FindRecords(ctx, "login.device", "", "")
		if err != nil || len(found) != 1 {
			t.Fatalf("trusted devices: %d %v", len(found), err)
		}
		found[0].Expires = time.Now().Add(-time.Minute)
		if err := rec.PutRecord(ctx, found[0]); err != nil {
			t.Fatal(err)
		}
		ended(t)
	})
	t.Run("another account's token → nothing", func(t *testing.T) {
		retrust(t)
		addUser(t, s.Main, "bea", "patient", "Patient/pat-b", "another horse battery")
		s.signOut(t, b)
		_, body := signInPassword(t, b, s.appLaunch().url, "bea", "another horse battery")
		if !isCodePage(body) {
			t.Fatalf("bea skipped the code with ann's trusted device:\n%s", body)
		}
		if d := lastDecision(t, s); !strings.Contains(d, "new-device") || !strings.Contains(d, "no trusted device") {
			t.Errorf("decision %q", d)
		}
	})
	var revoked int
	for _, ev := range auditEvents(t, s, "") {
		if strings.HasPrefix(str(ev["outcomeDesc"]), "trusted device revoked") {
			revoked++
		}
	}
	if revoked < 4 {
		t.Errorf("%d device-revoked events, want one per revocation", revoked)
	}
}

// TestRiskSignalsEndToEnd: a new network, a new device, recent failures
// and an unusual hour each take the shortcut away (the code is asked)
// and are named in the risk-assessed event.
func TestRiskSignalsEndToEnd(t *testing.T) {
	s := startTrusting(t)
	ctx := context.Background()
	rec := s.Store.(fhir.Records)
	b, addr := browserAt(t, "198.51.100.7")
	s.trustHere(t, b, s.appLaunch())
	refused := func(t *testing.T, b *http.Client, signal string) {
		t.Helper()
		s.signOut(t, b)
		skipped, resp, body := routine(t, b, s.appLaunch())
		if skipped {
			t.Fatalf("%s: the trusted device skipped the code", signal)
		}
		d := lastDecision(t, s)
		if !strings.Contains(d, signal) || !strings.HasSuffix(d, "authenticator or recovery code asked") {
			t.Errorf("%s: decision %q", signal, d)
		}
		answerCode(t, b, resp, body, "ann") // a real second factor makes the place known
	}

	t.Run("a new network", func(t *testing.T) {
		*addr = "203.0.113.40"
		refused(t, b, "new-network")
		*addr = "198.51.100.7"
	})
	t.Run("a new device", func(t *testing.T) {
		other, _ := browserAt(t, "198.51.100.7")
		refused(t, other, "new-device")
	})
	t.Run("recent failures", func(t *testing.T) {
		s.signOut(t, b)
		resp, body := signInPassword(t, b, s.appLaunch().url, "ann", "not her password")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d\n%s", resp.StatusCode, body)
		}
		refused(t, b, "recent-failures")
	})
	t.Run("an unusual hour", func(t *testing.T) {
		// Five sign-ins known, all twelve hours from now.
		acct, err := s.OAuth.Accounts().ByUsername(ctx, "ann")
		if err != nil {
			t.Fatal(err)
		}
		r, err := rec.GetRecord(ctx, "login.history", acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Seen []map[string]any `json:"seen"`
		}
		if err := json.Unmarshal(r.Data, &h); err != nil || len(h.Seen) == 0 {
			t.Fatalf("history %s: %v", r.Data, err)
		}
		odd := (time.Now().Hour() + 12) % 24
		last := h.Seen[len(h.Seen)-1]
		h.Seen = nil
		for range 5 {
			e := map[string]any{}
			for k, v := range last {
				e[k] = v
			}
			e["hour"] = odd
			h.Seen = append(h.Seen, e)
		}
		r.Data, _ = json.Marshal(h)
		if err := rec.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		refused(t, b, "unusual-hour")
	})
	t.Run("nothing new → the shortcut again", func(t *testing.T) {
		s.signOut(t, b)
		if skipped, _, _ := routine(t, b, s.appLaunch()); !skipped {
			t.Errorf("decision %q", lastDecision(t, s))
		}
	})
}
