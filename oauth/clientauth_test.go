package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
)

func TestMaxAge(t *testing.T) {
	for _, c := range []struct {
		cc   string
		want time.Duration
	}{
		{"max-age=300", 300 * time.Second},
		{"public, max-age=60", time.Minute},
		{"MAX-AGE=10", 10 * time.Second},
		{"public,max-age=60 , must-revalidate", time.Minute},
		{"", 0},
		{"public", 0},
		{"no-store", 0},
		{"no-cache", 0},
		{"max-age=60, no-store", 0},
		{"no-cache, max-age=60", 0},
		{"max-age=0", 0},
		{"max-age=-5", 0},
		{"max-age=abc", 0},
		{"max-age=", 0},
		{"s-maxage=100", 0},
	} {
		if got := maxAge(c.cc); got != c.want {
			t.Errorf("maxAge(%q) = %v, want %v", c.cc, got, c.want)
		}
	}
}

func jwksBytes(t *testing.T, key any, kid, alg string) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJWKSCacheFollowsCacheControl: a client's JWKS URL is read again
// once its Cache-Control allows no more (and after an hour at most).
func TestJWKSCacheFollowsCacheControl(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	public := jwksBytes(t, &key.PublicKey, "k1", "RS384")
	private := jwksBytes(t, key, "k1", "RS384")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name         string
		cacheControl string
		status       int
		body         []byte
		reads        []time.Duration // when, after t0, the keys are asked for
		wantFetches  int32
		wantErr      bool
	}{
		{"max-age=60: read once within the minute", "max-age=60", 200, public, []time.Duration{0, 30 * time.Second, 59 * time.Second}, 1, false},
		{"max-age=60: read again after it", "max-age=60", 200, public, []time.Duration{0, 61 * time.Second}, 2, false},
		{"no-store: read every time", "no-store, max-age=60", 200, public, []time.Duration{0, time.Second}, 2, false},
		{"no Cache-Control: read every time", "", 200, public, []time.Duration{0, time.Second}, 2, false},
		{"a day's max-age is kept an hour at most", "max-age=86400", 200, public, []time.Duration{0, 59 * time.Minute, 61 * time.Minute}, 2, false},
		{"an error status is an error, remembered 30 s, then retried", "max-age=60", 500, public, []time.Duration{0, time.Second, 31 * time.Second}, 2, true},
		{"a JWKS holding a private key is refused, remembered 30 s", "max-age=60", 200, private, []time.Duration{0, time.Second, 31 * time.Second}, 2, true},
		{"an empty JWKS is refused", "max-age=60", 200, []byte(`{"keys":[]}`), []time.Duration{0}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var fetches atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fetches.Add(1)
				if c.cacheControl != "" {
					w.Header().Set("Cache-Control", c.cacheControl)
				}
				w.WriteHeader(c.status)
				w.Write(c.body)
			}))
			defer srv.Close()
			cache := &jwksCache{client: srv.Client()}
			for _, at := range c.reads {
				set, err := cache.get(context.Background(), srv.URL, t0.Add(at))
				if (err != nil) != c.wantErr {
					t.Fatalf("at +%v: %v", at, err)
				}
				if err == nil && len(set.Key("k1")) != 1 {
					t.Fatalf("at +%v: keys %v", at, set.Keys)
				}
			}
			if got := fetches.Load(); got != c.wantFetches {
				t.Errorf("%d fetches, want %d", got, c.wantFetches)
			}
		})
	}
}

func TestSecretHasher(t *testing.T) {
	ctx := context.Background()
	secret := NewSecret(32)
	var h fosite.Hasher = secretHasher{}
	hash, err := h.Hash(ctx, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if !secretMatches(hash, secret) || h.Compare(ctx, hash, []byte(secret)) != nil {
		t.Error("the secret does not match its own hash")
	}
	for _, wrong := range []string{"", secret[:len(secret)-1], secret + "x", strings.ToUpper(secret)} {
		if secretMatches(hash, wrong) || h.Compare(ctx, hash, []byte(wrong)) == nil {
			t.Errorf("%q matched", wrong)
		}
	}
	if secretMatches(nil, "") || h.Compare(ctx, nil, nil) == nil {
		t.Error("a client without a secret hash matched the empty secret")
	}
}

func signedAssertion(t *testing.T, key crypto.Signer, kid string, alg jose.SignatureAlgorithm, clientID, aud string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		ID: NewSecret(16), Expiry: jwt.NewNumericDate(time.Now().Add(4 * time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestAuthenticateClient: the token and revocation endpoints' client
// authentication, one case per way in.
func TestAuthenticateClient(t *testing.T) {
	ctx := context.Background()
	st := storeForTest(t)
	s, err := New(ctx, Config{BaseURL: "http://localhost:8080/fhir", Records: st, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := s.clients.Add(ctx, &Client{ID: "conf", Type: ClientConfidential, RedirectURIs: []string{"https://conf.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.clients.Add(ctx, &Client{ID: "pub", Type: ClientPublic, RedirectURIs: []string{"https://pub.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.clients.Add(ctx, &Client{ID: "ec", Type: ClientBackend, JWKS: jwksBytes(t, &ec.PublicKey, "e1", "ES384")}); err != nil {
		t.Fatal(err)
	}
	tokenURL := s.Endpoints().Token
	assertion := func(kid, clientID string) url.Values {
		return url.Values{"client_assertion_type": {assertionType}, "client_assertion": {signedAssertion(t, ec, kid, jose.ES384, clientID, tokenURL)}}
	}

	type basic struct{ id, secret string }
	for _, c := range []struct {
		name    string
		basic   *basic
		form    url.Values
		wantID  string
		wantErr *fosite.RFC6749Error
	}{
		{"client_secret_basic → the client", &basic{"conf", secret}, nil, "conf", nil},
		{"client_secret_post → the client", nil, url.Values{"client_id": {"conf"}, "client_secret": {secret}}, "conf", nil},
		{"Basic with the same client_id in the form → the client", &basic{"conf", secret}, url.Values{"client_id": {"conf"}}, "conf", nil},
		{"Basic with another client_id in the form → invalid_request", &basic{"conf", secret}, url.Values{"client_id": {"pub"}}, "", fosite.ErrInvalidRequest},
		{"wrong Basic secret → invalid_client", &basic{"conf", secret + "x"}, nil, "", fosite.ErrInvalidClient},
		{"wrong posted secret → invalid_client", nil, url.Values{"client_id": {"conf"}, "client_secret": {"x"}}, "", fosite.ErrInvalidClient},
		{"confidential client without its secret → invalid_client", nil, url.Values{"client_id": {"conf"}}, "", fosite.ErrInvalidClient},
		{"public client by client_id → the client", nil, url.Values{"client_id": {"pub"}}, "pub", nil},
		{"public client presenting a secret → invalid_client", nil, url.Values{"client_id": {"pub"}, "client_secret": {"x"}}, "", fosite.ErrInvalidClient},
		{"unknown client → invalid_client", &basic{"nobody", "x"}, nil, "", fosite.ErrInvalidClient},
		{"no client at all → invalid_client", nil, url.Values{}, "", fosite.ErrInvalidClient},
		{"key client presenting a secret → invalid_client", &basic{"ec", "x"}, nil, "", fosite.ErrInvalidClient},
		{"ES384 assertion → the client", nil, assertion("e1", "ec"), "ec", nil},
		{"assertion with an unknown kid → invalid_client", nil, assertion("e2", "ec"), "", fosite.ErrInvalidClient},
		{"assertion naming a secret client → invalid_client", nil, assertion("e1", "conf"), "", fosite.ErrInvalidClient},
		{"unknown client_assertion_type → invalid_request", nil, url.Values{"client_assertion_type": {"not_an_assertion_type"}, "client_assertion": {"x"}}, "", fosite.ErrInvalidRequest},
		{"client_assertion missing → invalid_request", nil, url.Values{"client_assertion_type": {assertionType}}, "", fosite.ErrInvalidRequest},
		{"client_assertion not a JWT → invalid_client", nil, url.Values{"client_assertion_type": {assertionType}, "client_assertion": {"x.y.z"}}, "", fosite.ErrInvalidClient},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
			if c.basic != nil {
				r.SetBasicAuth(c.basic.id, c.basic.secret)
			}
			form := c.form
			if form == nil {
				form = url.Values{}
			}
			got, err := s.authenticateClient(ctx, r, form)
			if c.wantErr != nil {
				if err == nil || !fosite.ErrorToRFC6749Error(err).Is(c.wantErr) {
					t.Errorf("got %v, %v; want %s", got, err, c.wantErr.ErrorField)
				}
				return
			}
			if err != nil || got.GetID() != c.wantID {
				t.Errorf("got %v, %v; want %s", got, err, c.wantID)
			}
		})
	}
}
