package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oncofhir/oncofhir/oauth"
)

// backendKey is one RSA key for every backend client the tests register.
var backendKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func publicJWKS(t *testing.T, pub crypto.PublicKey, kid, alg string) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signAssertion builds a SMART backend-services client assertion.
func signAssertion(t *testing.T, key crypto.Signer, kid string, alg jose.SignatureAlgorithm, clientID, aud, jti string, exp time.Time) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		ID: jti, Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now())}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// registerBackend registers a backend client holding backendKey's public
// half.
func registerBackend(t *testing.T, m *Main, id, scopes string) {
	t.Helper()
	_, err := m.OAuth.Clients().Add(context.Background(), &oauth.Client{ID: id, Type: oauth.ClientBackend,
		JWKS: publicJWKS(t, &backendKey().PublicKey, "k1", "RS384"), Scopes: strings.Fields(scopes)})
	if err != nil {
		t.Fatal(err)
	}
}

// postForm posts a form to the running server and decodes its JSON answer.
func postForm(t *testing.T, m *Main, path string, form url.Values, header http.Header) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.Addr()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header
}

// backendToken obtains a system-level token by client_credentials.
func backendToken(t *testing.T, m *Main, clientID, scopes string) string {
	t.Helper()
	tokenURL := m.OAuth.Endpoints().Token
	status, body, _ := postForm(t, m, "/oauth/token", url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scopes},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {signAssertion(t, backendKey(), "k1", jose.RS384, clientID, tokenURL, oauth.NewSecret(16), time.Now().Add(4*time.Minute))},
	}, nil)
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	return body["access_token"].(string)
}

var testTokens sync.Map // *Main → system token

// systemToken is a token with every system scope, for tests that are
// about something else than access control.
func systemToken(t *testing.T, m *Main) string {
	t.Helper()
	if v, ok := testTokens.Load(m); ok {
		return v.(string)
	}
	id := "tests-" + strings.ToLower(oauth.NewSecret(4))
	registerBackend(t, m, id, "system/*.cruds")
	tok := backendToken(t, m, id, "system/*.cruds")
	testTokens.Store(m, tok)
	return tok
}
