package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLife bounds how far in the future a client assertion may
// expire (SMART: no more than five minutes).
const maxAssertionLife = 5*time.Minute + time.Minute // plus clock skew

// authenticateClient is the token, introspection and revocation endpoints'
// client authentication: client_secret_basic and client_secret_post for
// confidential clients (either; fosite allows one per client), none for
// public clients, and private_key_jwt (RS384 or ES384) with an inline
// JWKS or a JWKS URL cached no longer than its Cache-Control allows, an
// audience of the token URL or the issuer, and each jti used once.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if t := form.Get("client_assertion_type"); t != "" {
		if t != assertionType {
			return nil, fosite.ErrInvalidRequest.WithHint("Unknown client_assertion_type.")
		}
		return s.assertedClient(ctx, form)
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
		if f := form.Get("client_id"); f != "" && f != id {
			return nil, fosite.ErrInvalidRequest.WithHint("client_id differs from the Authorization header.")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, fosite.ErrInvalidClient.WithHint("Client authentication is required.")
	}
	c, err := s.clients.Get(ctx, id)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("Client authentication failed.")
	}
	switch {
	case c.Type == ClientPublic:
		if secret != "" {
			return nil, fosite.ErrInvalidClient.WithHint("A public client has no secret.")
		}
		return c, nil
	case c.Asymmetric():
		return nil, fosite.ErrInvalidClient.WithHint("This client authenticates with private_key_jwt.")
	case secret == "" || !secretMatches(c.SecretHash, secret):
		return nil, fosite.ErrInvalidClient.WithHint("Client authentication failed.")
	}
	return c, nil
}

type assertionClaims struct {
	jwt.Claims
}

func (s *Server) assertedClient(ctx context.Context, form url.Values) (fosite.Client, error) {
	raw := form.Get("client_assertion")
	if raw == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("client_assertion is missing.")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS384, jose.ES384})
	if err != nil || len(tok.Headers) != 1 {
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion must be a JWT signed with RS384 or ES384.")
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion claims cannot be read.")
	}
	id := form.Get("client_id")
	if id == "" {
		id = unverified.Issuer
	}
	c, err := s.clients.Get(ctx, id)
	if err != nil || !c.Asymmetric() {
		return nil, fosite.ErrInvalidClient.WithHint("Client authentication failed.")
	}
	h := tok.Headers[0]
	if h.KeyID == "" {
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion needs a kid header.")
	}
	keys, err := s.clientKeys(ctx, c)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("The client's keys cannot be obtained.")
	}
	var key *jose.JSONWebKey
	for i := range keys.Key(h.KeyID) {
		k := keys.Key(h.KeyID)[i]
		if kty(k) == map[string]string{"RS384": "RSA", "ES384": "EC"}[h.Algorithm] {
			key = &k
			break
		}
	}
	if key == nil {
		return nil, fosite.ErrInvalidClient.WithHint("No key of the client matches the assertion's kid and alg.")
	}
	var claims assertionClaims
	if err := tok.Claims(key.Key, &claims); err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion signature does not verify.")
	}
	now := s.now()
	switch {
	case claims.Issuer != c.ID || claims.Subject != c.ID:
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion iss and sub must be the client id.")
	case claims.Expiry == nil:
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion needs exp.")
	case claims.Expiry.Time().After(now.Add(maxAssertionLife)):
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion may live at most five minutes.")
	case claims.ID == "":
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion needs jti.")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: now}, time.Minute); err != nil {
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion is expired or not yet valid.")
	}
	if !claims.Audience.Contains(s.tokenURL) && !claims.Audience.Contains(s.issuer) {
		return nil, fosite.ErrInvalidClient.WithHint("client_assertion aud must be the token URL or the issuer.")
	}
	if err := s.storage.SetClientAssertionJWT(ctx, c.ID+" "+claims.ID, claims.Expiry.Time().Add(time.Minute)); err != nil {
		if errors.Is(err, fosite.ErrJTIKnown) {
			return nil, fosite.ErrInvalidClient.WithHint("client_assertion jti was already used.")
		}
		return nil, err
	}
	return c, nil
}

func kty(k jose.JSONWebKey) string {
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "EC"
	}
	return ""
}

func parseJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("JWKS: no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, errors.New("JWKS: holds a private key; register public keys only")
		}
	}
	return &set, nil
}

// jwksCache keeps fetched JWKS no longer than their Cache-Control max-age
// (at most an hour; no-store or no max-age: not at all).
type jwksCache struct {
	mu      sync.Mutex
	entries map[string]jwksEntry
	client  *http.Client
}

type jwksEntry struct {
	set     *jose.JSONWebKeySet
	expires time.Time
}

func (s *Server) clientKeys(ctx context.Context, c *Client) (*jose.JSONWebKeySet, error) {
	if len(c.JWKS) > 0 {
		return parseJWKS(c.JWKS)
	}
	return s.jwks.get(ctx, c.JWKSURL, s.now())
}

func (j *jwksCache) get(ctx context.Context, u string, now time.Time) (*jose.JSONWebKeySet, error) {
	j.mu.Lock()
	e, ok := j.entries[u]
	j.mu.Unlock()
	if ok && now.Before(e.expires) {
		if e.set == nil {
			return nil, errors.New("JWKS " + u + " failed recently")
		}
		return e.set, nil
	}
	set, life, err := j.fetch(ctx, u)
	if err != nil {
		// Remember the failure briefly: unauthenticated token requests
		// must not make this server fetch a failing URL over and over.
		life, set = jwksRetry, nil
	}
	if life > 0 {
		j.mu.Lock()
		if j.entries == nil {
			j.entries = map[string]jwksEntry{}
		}
		j.entries[u] = jwksEntry{set: set, expires: now.Add(min(life, time.Hour))}
		j.mu.Unlock()
	}
	return set, err
}

// jwksRetry is how long a failed JWKS fetch is not retried.
const jwksRetry = 30 * time.Second

func (j *jwksCache) fetch(ctx context.Context, u string) (*jose.JSONWebKeySet, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("JWKS %s: %s", u, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return nil, 0, err
	}
	set, err := parseJWKS(raw)
	if err != nil {
		return nil, 0, err
	}
	return set, maxAge(resp.Header.Get("Cache-Control")), nil
}

func maxAge(cc string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if d == "no-store" || d == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}
