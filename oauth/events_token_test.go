package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/pquerna/otp/totp"
)

const grantScopes = "launch/patient openid fhirUser offline_access patient/*.rs"

// TestTokenEvents: code exchange, refresh and revocation are reported
// with the client, the grant and the account; a reused code or refresh
// token is reported as such; no event holds a token or a code.
func TestTokenEvents(t *testing.T) {
	es := startEvents(t)
	var secrets []string
	code, verifier := es.authorize(t, newBrowser(t), annName, annPassword, grantScopes)
	status, body := es.exchange(t, code, verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	grant := es.grantOf(t, body)
	rt, _ := body["refresh_token"].(string)
	secrets = append(secrets, code, verifier, body["access_token"].(string), rt, body["id_token"].(string))

	want := func(e SecurityEvent, kind string, success bool) {
		t.Helper()
		if e.Kind != kind || e.Success != success || e.Client != "app" || e.Grant != grant || e.Account != es.ann.ID ||
			e.Role != "patient" || e.Patient != "pat-a" || e.RequestID == "" {
			t.Errorf("event %+v; want %s, success %v, client app, grant %s, account %s", e, kind, success, grant, es.ann.ID)
		}
	}
	issued := es.rec.last(t, TokenIssued)
	want(issued, TokenIssued, true)
	if !slices.Contains(issued.Scopes, "patient/*.rs") {
		t.Errorf("scopes %v", issued.Scopes)
	}

	t.Run("the code again → failure: reused, its grant revoked", func(t *testing.T) {
		if status, _ := es.exchange(t, code, verifier); status != http.StatusBadRequest {
			t.Fatalf("second exchange: %d", status)
		}
		e := es.rec.last(t, TokenIssued)
		want(e, TokenIssued, false)
		if !strings.Contains(e.Detail, "authorization code used again") {
			t.Errorf("detail %q", e.Detail)
		}
	})

	// The reuse ended that grant: start another.
	code, verifier = es.authorize(t, newBrowser(t), annName, annPassword, grantScopes)
	status, body = es.exchange(t, code, verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	grant = es.grantOf(t, body)
	rt = body["refresh_token"].(string)
	secrets = append(secrets, code, verifier, body["access_token"].(string), rt)

	t.Run("refresh → success, the same grant", func(t *testing.T) {
		status, body := es.refresh(t, rt, "")
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, body)
		}
		secrets = append(secrets, body["access_token"].(string), body["refresh_token"].(string))
		want(es.rec.last(t, TokenRefreshed), TokenRefreshed, true)
		rt2 := body["refresh_token"].(string)

		status, _ = es.refresh(t, rt2, "patient/*.cruds")
		e := es.rec.last(t, TokenRefreshed)
		if status != http.StatusBadRequest || e.Detail != "asked for scopes not granted before" {
			t.Errorf("narrowing to more: %d, %+v", status, e)
		}
		want(e, TokenRefreshed, false)

		status, _ = es.refresh(t, rt, "")
		e = es.rec.last(t, TokenRefreshed)
		if status != http.StatusBadRequest || !strings.Contains(e.Detail, "refresh token used again") {
			t.Errorf("the old refresh token again: %d, %+v", status, e)
		}
		want(e, TokenRefreshed, false)
	})

	t.Run("revoke → success, the grant", func(t *testing.T) {
		code, verifier := es.authorize(t, newBrowser(t), annName, annPassword, grantScopes)
		_, body := es.exchange(t, code, verifier)
		grant = es.grantOf(t, body)
		rt := body["refresh_token"].(string)
		secrets = append(secrets, code, verifier, body["access_token"].(string), rt)
		if status, _ := es.post(t, "/oauth/revoke", url.Values{"token": {rt}, "client_id": {"app"}}); status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		e := es.rec.last(t, TokenRevoked)
		want(e, TokenRevoked, true)
		if status, _ := es.refresh(t, rt, ""); status != http.StatusBadRequest {
			t.Errorf("refresh after revocation: %d", status)
		}
	})
	es.rec.never(t, secrets...)
}

// TestRefreshRefusalEvents: a refresh refused because the user was
// disabled or the caregiver's link ended is reported with its reason.
func TestRefreshRefusalEvents(t *testing.T) {
	es := startEvents(t)
	ctx := context.Background()
	es.put(t, "RelatedPerson", "rp-1", 1, `{"resourceType":"RelatedPerson","id":"rp-1","active":true,"patient":{"reference":"Patient/pat-a"}}`)
	cara, err := es.accounts.Add(ctx, "cara.giver", "proxy", "RelatedPerson/rp-1", "caregiver passphrase")
	if err != nil {
		t.Fatal(err)
	}
	code, verifier := es.authorize(t, newBrowser(t), "cara.giver", "caregiver passphrase", grantScopes)
	_, body := es.exchange(t, code, verifier)
	caraRT, _ := body["refresh_token"].(string)
	code, verifier = es.authorize(t, newBrowser(t), annName, annPassword, grantScopes)
	_, body = es.exchange(t, code, verifier)
	annRT, _ := body["refresh_token"].(string)
	annGrant := es.grantOf(t, body)

	es.put(t, "RelatedPerson", "rp-1", 2, `{"resourceType":"RelatedPerson","id":"rp-1","active":false,"patient":{"reference":"Patient/pat-a"}}`)
	if status, _ := es.refresh(t, caraRT, ""); status != http.StatusBadRequest {
		t.Errorf("caregiver refresh after the link ended: %d", status)
	}
	if e := es.rec.last(t, TokenRefreshed); e.Success || e.Account != cara.ID || e.Role != "proxy" ||
		e.Detail != "caregiver no longer linked to the patient" || e.Grant == "" {
		t.Errorf("event %+v", e)
	}

	// Disabled without ending the tokens, as a second process might see
	// it before they end: the refresh check itself must refuse.
	if err := (Accounts{Records: es.st, Now: time.Now}).Disable(ctx, annName); err != nil {
		t.Fatal(err)
	}
	if status, _ := es.refresh(t, annRT, ""); status != http.StatusBadRequest {
		t.Errorf("refresh of a disabled user: %d", status)
	}
	if e := es.rec.last(t, TokenRefreshed); e.Success || e.Account != es.ann.ID || e.Grant != annGrant ||
		e.Detail != "account disabled or removed" {
		t.Errorf("event %+v; want grant %s", e, annGrant)
	}
}

// TestTokenFailsWithoutItsRecord: when the issue cannot be recorded,
// the token endpoint answers 503 in RFC 6749 JSON and stores no token;
// a refresh token is not spent by the failure, so it works once the
// trail is back.
func TestTokenFailsWithoutItsRecord(t *testing.T) {
	es := startEvents(t)
	ctx := context.Background()
	code, verifier := es.authorize(t, newBrowser(t), annName, annPassword, grantScopes)
	noTokens := func() {
		t.Helper()
		for _, kind := range []string{kindAccess, kindRefresh} {
			if found, err := es.st.FindRecords(ctx, kind, "", ""); err != nil || len(found) != 0 {
				t.Errorf("%s records: %d, %v", kind, len(found), err)
			}
		}
	}
	es.rec.failing.Store(true)
	status, body := es.exchange(t, code, verifier)
	if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || body["access_token"] != nil {
		t.Fatalf("exchange while the trail is down: %d %v", status, body)
	}
	noTokens()
	es.rec.failing.Store(false)
	code, verifier = es.authorize(t, newBrowser(t), annName, annPassword, grantScopes)
	status, body = es.exchange(t, code, verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange once the trail is back: %d %v", status, body)
	}
	rt := body["refresh_token"].(string)

	es.rec.failing.Store(true)
	status, body = es.refresh(t, rt, "")
	es.rec.failing.Store(false)
	if status != http.StatusServiceUnavailable || body["access_token"] != nil {
		t.Fatalf("refresh while the trail is down: %d %v", status, body)
	}
	if status, _ := es.refresh(t, rt, ""); status != http.StatusOK {
		t.Errorf("the refresh token after the failed refresh: %d", status)
	}
}

// TestBackendTokenEvents: a client_credentials token is reported with
// its client and grant and no account, and is not issued unrecorded.
func TestBackendTokenEvents(t *testing.T) {
	es := startEvents(t)
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es.clients.Add(context.Background(), &Client{ID: "svc", Type: ClientBackend,
		JWKS: jwksBytes(t, &key.PublicKey, "k1", "ES384"), Scopes: []string{"system/*.rs"}}); err != nil {
		t.Fatal(err)
	}
	form := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}, "client_assertion_type": {assertionType},
			"client_assertion": {signedAssertion(t, key, "k1", jose.ES384, "svc", es.Endpoints().Token)}}
	}
	es.rec.failing.Store(true)
	status, body := es.post(t, "/oauth/token", form())
	es.rec.failing.Store(false)
	if status != http.StatusServiceUnavailable || body["access_token"] != nil {
		t.Fatalf("while the trail is down: %d %v", status, body)
	}
	if found, _ := es.st.FindRecords(context.Background(), kindAccess, "", ""); len(found) != 0 {
		t.Errorf("%d access tokens stored", len(found))
	}
	status, body = es.post(t, "/oauth/token", form())
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	e := es.rec.last(t, TokenIssued)
	if !e.Success || e.Client != "svc" || e.Account != "" || e.Grant != es.grantOf(t, body) {
		t.Errorf("event %+v", e)
	}
	es.rec.never(t, body["access_token"].(string))

	bad := form()
	bad.Set("client_assertion", signedAssertion(t, key, "k2", jose.ES384, "svc", es.Endpoints().Token))
	if status, _ := es.post(t, "/oauth/token", bad); status != http.StatusUnauthorized {
		t.Errorf("an assertion with an unknown key: %d", status)
	}
	if e := es.rec.last(t, TokenIssued); e.Success || e.Detail != "refused: invalid_client" {
		t.Errorf("event %+v", e)
	}
}

// TestIntrospectionEvents: a caller that is not authenticated, or asks
// about another client's token without a system scope, is reported.
func TestIntrospectionEvents(t *testing.T) {
	es := startEvents(t)
	secret, err := es.clients.Add(context.Background(), &Client{ID: "other", Type: ClientConfidential,
		RedirectURIs: []string{eventsRedirect}, Scopes: []string{"patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	code, verifier := es.authorize(t, newBrowser(t), annName, annPassword, grantScopes)
	_, body := es.exchange(t, code, verifier)
	at := body["access_token"].(string)

	if status, _ := es.post(t, "/oauth/introspect", url.Values{"token": {at}}); status != http.StatusUnauthorized {
		t.Errorf("no caller: %d", status)
	}
	if e := es.rec.last(t, IntrospectionFailed); e.Success || e.Detail != "caller not authenticated" {
		t.Errorf("event %+v", e)
	}
	if status, _ := es.post(t, "/oauth/introspect", url.Values{"token": {at}}, "other", "wrong secret"); status != http.StatusUnauthorized {
		t.Errorf("a wrong secret: %d", status)
	}
	if e := es.rec.last(t, IntrospectionFailed); e.Client != "other" || e.Detail != "caller not authenticated" {
		t.Errorf("event %+v", e)
	}
	status, body := es.post(t, "/oauth/introspect", url.Values{"token": {at}}, "other", secret)
	if status != http.StatusOK || body["active"] != false {
		t.Errorf("another client's token: %d %v", status, body)
	}
	e := es.rec.last(t, IntrospectionFailed)
	if e.Success || e.Client != "other" || e.Account != es.ann.ID || e.Detail != "caller may not introspect this token" || e.Grant == "" {
		t.Errorf("event %+v", e)
	}
	if n := es.rec.count(IntrospectionFailed); n != 3 {
		t.Errorf("%d introspection events, want 3", n)
	}
	es.rec.never(t, at, secret, "wrong secret", code, verifier)
}

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	v := NewSecret(32)
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize walks a browser through sign-in and the authorization page
// and returns the code and its PKCE verifier.
func (es *eventsServer) authorize(t *testing.T, b *browser, user, password, scopes string) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {eventsRedirect}, "scope": {scopes},
		"state": {"state-12345678"}, "aud": {es.base}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	resp, _ := b.do(http.MethodGet, es.url+"/oauth/authorize?"+q.Encode(), nil)
	flowURL := es.url + resp.Header.Get("Location")
	es.signInTwoFactors(t, b, user, password)
	resp, page := b.do(http.MethodGet, flowURL, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="action"`) {
		t.Fatalf("authorization page: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = b.do(http.MethodPost, flowURL, url.Values{"csrf": {csrfOf(t, page)}, "action": {"grant"}, "scope": strings.Fields(scopes)})
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code: %d %v", resp.StatusCode, loc)
	}
	return loc.Query().Get("code"), verifier
}

// signInTwoFactors signs in with the password and an authenticator code
// (every user token needs two factors), enrolling the account's app
// first when it has none.
func (es *eventsServer) signInTwoFactors(t *testing.T, b *browser, user, password string) {
	t.Helper()
	ctx := context.Background()
	acct, err := es.accounts.ByUsername(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if !acct.HasTOTP() {
		if _, err := es.accounts.EnrollTOTP(ctx, user); err != nil {
			t.Fatal(err)
		}
		acct, _ = es.accounts.ByUsername(ctx, user)
	}
	resp, page := es.signIn(b, user, password)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/oauth/login/code"`) {
		t.Fatalf("sign-in: %d, no code asked", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodPost, es.url+"/oauth/login/code", url.Values{"csrf": {csrfOf(t, page)}, "code": {es.freshCode(t, user)}}); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusOK {
		t.Fatalf("code: %d", resp.StatusCode)
	}
}

// freshCode is a second-factor code the server accepts for user now: a
// step the account has not used among the three accepted (the one
// before only while more than 3 s of this one remain), else a recovery
// code.
func (es *eventsServer) freshCode(t *testing.T, user string) string {
	t.Helper()
	ctx := context.Background()
	acct, err := es.accounts.ByUsername(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	step := now / 30
	if 30-now%30 > 3 {
		step--
	}
	step = max(step, acct.TOTPLastStep+1)
	if step <= now/30+1 {
		code, err := totp.GenerateCodeCustom(acct.TOTPSecret, time.Unix(step*30, 0), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	codes, err := es.accounts.NewRecoveryCodes(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	return codes[0]
}

// post sends a form to an OAuth endpoint and decodes its JSON answer.
func (es *eventsServer) post(t *testing.T, path string, form url.Values, basic ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, es.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func (es *eventsServer) exchange(t *testing.T, code, verifier string) (int, map[string]any) {
	t.Helper()
	return es.post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {eventsRedirect},
		"client_id": {"app"}, "code_verifier": {verifier}})
}

func (es *eventsServer) refresh(t *testing.T, token, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"app"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return es.post(t, "/oauth/token", form)
}

// grantOf is the grant an access token speaks for.
func (es *eventsServer) grantOf(t *testing.T, body map[string]any) string {
	t.Helper()
	tok, _ := body["access_token"].(string)
	p, err := es.principal(context.Background(), tok)
	if err != nil || p == nil {
		t.Fatalf("access token %q: %v %v", tok, p, err)
	}
	return p.Grant
}
