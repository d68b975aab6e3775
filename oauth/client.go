package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"time"

	"github.com/ory/fosite"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth/scope"
)

// Client types, as `fhirserver client add --type` names them.
const (
	ClientPublic       = "public"       // no secret: browser and native apps
	ClientConfidential = "confidential" // a secret, or private_key_jwt with a JWKS
	ClientBackend      = "backend"      // client_credentials with private_key_jwt
)

// Client is a registered app.
type Client struct {
	ID           string          `json:"id"`
	Name         string          `json:"name,omitempty"`
	Type         string          `json:"type"`
	SecretHash   []byte          `json:"secretHash,omitempty"` // SHA-256 of a 256-bit random secret
	RedirectURIs []string        `json:"redirectUris,omitempty"`
	LaunchURI    string          `json:"launchUri,omitempty"` // where an EHR launch sends the user
	Scopes       []string        `json:"scopes"`
	JWKS         json.RawMessage `json:"jwks,omitempty"`
	JWKSURL      string          `json:"jwksUrl,omitempty"`
	// Provider marks an app operated by the provider itself; every other
	// app gets the third-party risk notice on the authorization page.
	Provider bool `json:"provider,omitempty"`
	// RequireACR raises the level the client's user tokens need above
	// the server's (Config.RequireACR); "" keeps the server's.
	RequireACR string    `json:"requireAcr,omitempty"`
	Created    time.Time `json:"created"`
}

var _ fosite.Client = (*Client)(nil)

func (c *Client) GetID() string             { return c.ID }
func (c *Client) GetHashedSecret() []byte   { return c.SecretHash }
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs }
func (c *Client) GetResponseTypes() fosite.Arguments {
	if c.Type == ClientBackend {
		return nil
	}
	return fosite.Arguments{"code"}
}
func (c *Client) GetGrantTypes() fosite.Arguments {
	if c.Type == ClientBackend {
		return fosite.Arguments{"client_credentials"}
	}
	return fosite.Arguments{"authorization_code", "refresh_token"}
}
func (c *Client) GetScopes() fosite.Arguments   { return c.Scopes }
func (c *Client) IsPublic() bool                { return c.Type == ClientPublic }
func (c *Client) GetAudience() fosite.Arguments { return nil }

// Asymmetric tells whether the client authenticates with private_key_jwt.
func (c *Client) Asymmetric() bool { return len(c.JWKS) > 0 || c.JWKSURL != "" }

// BackendTokenLifespan bounds backend-services access tokens (SMART: at
// most five minutes).
const BackendTokenLifespan = 5 * time.Minute

// GetEffectiveLifespan gives backend services their short tokens.
func (c *Client) GetEffectiveLifespan(gt fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if gt == fosite.GrantTypeClientCredentials && tt == fosite.AccessToken {
		return BackendTokenLifespan
	}
	return fallback
}

// Origins are the origins of the client's redirect URIs: the browser
// origins allowed to call the token endpoint and the FHIR API.
func (c *Client) Origins() []string {
	var out []string
	for _, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "" || u.Host == "" {
			continue
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Clients is the client registry.
type Clients struct {
	Records fhir.Records
	Now     func() time.Time
	// Events, when set, hears of every client registered or removed;
	// Logger (slog.Default() when nil) of a report that failed.
	Events SecurityEvents
	Logger *slog.Logger
}

// ErrClientExists is returned by Add for an id already registered.
var ErrClientExists = errors.New("oauth: a client with this id exists")

// Add registers c and returns its secret for a confidential client
// without keys (shown once; only its hash is kept).
func (cs Clients) Add(ctx context.Context, c *Client) (secret string, err error) {
	if !clientIDPattern.MatchString(c.ID) {
		return "", errors.New("client id: use 1 to 64 letters, digits, '.', '_' or '-'")
	}
	switch c.Type {
	case ClientPublic, ClientConfidential:
		if len(c.RedirectURIs) == 0 {
			return "", errors.New("a " + c.Type + " client needs at least one redirect URI")
		}
	case ClientBackend:
		if !c.Asymmetric() {
			return "", errors.New("a backend client needs --jwks-file or --jwks-url")
		}
	default:
		return "", fmt.Errorf("client type %q: use public, confidential or backend", c.Type)
	}
	if err := checkRequireACR(c.RequireACR); err != nil {
		return "", err
	}
	if c.Type == ClientBackend && c.RequireACR != "" {
		return "", errors.New("a backend client signs in no user: --require-acr does not apply")
	}
	if c.Type == ClientPublic && c.Asymmetric() {
		return "", errors.New("a public client has no keys; use --type confidential")
	}
	for _, r := range append(append([]string{}, c.RedirectURIs...), c.LaunchURI) {
		if r == "" {
			continue
		}
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return "", fmt.Errorf("%q is not an absolute URI without a fragment", r)
		}
	}
	for _, s := range c.Scopes {
		if _, err := scope.Parse(s); err != nil {
			return "", fmt.Errorf("scope %q: %w", s, err)
		}
	}
	if len(c.JWKS) > 0 {
		if _, err := parseJWKS(c.JWKS); err != nil {
			return "", err
		}
	}
	if c.Type == ClientConfidential && !c.Asymmetric() {
		secret = randomToken(32)
		sum := sha256.Sum256([]byte(secret))
		c.SecretHash = sum[:]
	}
	c.Created = cs.Now().UTC()
	data, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	err = cs.Records.PutRecord(ctx, &fhir.Record{Kind: kindClient, Key: c.ID, Data: data})
	if errors.Is(err, fhir.ErrVersionConflict) {
		return "", ErrClientExists
	} else if err != nil {
		return "", err
	}
	reportChange(ctx, cs.Events, cs.Logger, cs.Now, SecurityEvent{Kind: ClientRegistered, Client: c.ID, Scopes: c.Scopes,
		Success: true, Detail: "registered as a " + c.Type + " client"})
	return secret, nil
}

// Get returns a client, or an error wrapping fhir.ErrNotFound.
func (cs Clients) Get(ctx context.Context, id string) (*Client, error) {
	r, err := cs.Records.GetRecord(ctx, kindClient, id)
	if err != nil {
		return nil, err
	}
	var c Client
	if err := json.Unmarshal(r.Data, &c); err != nil {
		return nil, fmt.Errorf("oauth: client %s: %w", id, err)
	}
	return &c, nil
}

// List returns every client, by id.
func (cs Clients) List(ctx context.Context) ([]*Client, error) {
	recs, err := cs.Records.FindRecords(ctx, kindClient, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]*Client, 0, len(recs))
	for _, r := range recs {
		var c Client
		if err := json.Unmarshal(r.Data, &c); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, nil
}

// Remove deletes a client and every code and token issued to it.
func (cs Clients) Remove(ctx context.Context, id string) error {
	if _, err := cs.Get(ctx, id); err != nil {
		return err
	}
	if err := cs.Records.DeleteRecord(ctx, kindClient, id); err != nil {
		return err
	}
	err := cs.removeGrants(ctx, id)
	e := SecurityEvent{Kind: ClientRemoved, Client: id, Success: err == nil, Detail: "client removed with its codes and tokens"}
	if err != nil {
		e.Detail = "client removed; ending its codes and tokens failed"
	}
	reportChange(ctx, cs.Events, cs.Logger, cs.Now, e)
	return err
}

func (cs Clients) removeGrants(ctx context.Context, id string) error {
	st := &storage{rec: cs.Records, now: cs.Now}
	for _, kind := range []string{kindAccess, kindRefresh, kindCode, kindPKCE, kindOIDC} {
		if err := st.deleteWhere(ctx, kind, "client", id); err != nil {
			return err
		}
	}
	return nil
}

// GetClient is fosite's client lookup.
func (s *storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := Clients{Records: s.rec, Now: s.now}.Get(ctx, id)
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, fosite.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	return c, nil
}

// secretMatches compares a presented secret with the stored hash in
// constant time. Secrets are 256 random bits, so a fast hash is enough.
func secretMatches(hash []byte, secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return len(hash) == len(sum) && subtle.ConstantTimeCompare(hash, sum[:]) == 1
}

// secretHasher lets fosite compare client secrets the way they are kept
// here. fosite's default hasher is bcrypt, and the introspection endpoint
// checks Basic credentials with it rather than through
// authenticateClient, so without this every confidential client would
// be refused there.
type secretHasher struct{}

func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	if !secretMatches(hash, string(data)) {
		return errors.New("oauth: client secret does not match")
	}
	return nil
}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}

// randomToken returns n random bytes, URL-safe base64 without padding:
// no '%' or '+', so Basic authentication survives URL decoding.
func randomToken(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's random source failed
	}
	return b
}

// NewSecret returns n random bytes as URL-safe text (for generated
// passwords and secrets).
func NewSecret(n int) string { return randomToken(n) }
