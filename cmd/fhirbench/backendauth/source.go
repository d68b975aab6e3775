package backendauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLife is how far ahead an assertion expires. SMART allows five
// minutes; one less leaves room for a server clock a little behind ours.
const assertionLife = 4 * time.Minute

// DefaultRenewBefore is how long before a token expires it is renewed
// (or at half its life, when that comes first).
const DefaultRenewBefore = time.Minute

// expiryMargin is how long before its expiry a token is no longer sent,
// (or a tenth of its life, when less) so that none expires in flight.
const expiryMargin = 5 * time.Second

// retryPause is how long a failed renewal waits before the next attempt,
// while the old token still lasts.
const retryPause = 5 * time.Second

// maxAnswerBytes bounds what is read of a discovery or token answer.
const maxAnswerBytes = 64 << 10

// Discover reads token_endpoint from {fhirBase}/.well-known/smart-configuration.
// It refuses an endpoint on another scheme or host than fhirBase: the
// tools send requests, and client assertions, only to the server they are
// pointed at.
func Discover(ctx context.Context, hc *http.Client, fhirBase string) (string, error) {
	base, err := url.Parse(fhirBase)
	if err != nil {
		return "", err
	}
	u := strings.TrimRight(fhirBase, "/") + "/.well-known/smart-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
		return "", fmt.Errorf("GET %s: %s; does the server speak SMART?", u, resp.Status)
	}
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBytes)).Decode(&doc); err != nil {
		return "", fmt.Errorf("GET %s: reading the answer: %w", u, err)
	}
	if doc.TokenEndpoint == "" {
		return "", fmt.Errorf("GET %s: no token_endpoint", u)
	}
	tu, err := url.Parse(doc.TokenEndpoint)
	if err != nil || !tu.IsAbs() {
		return "", fmt.Errorf("GET %s: token_endpoint %q is not an absolute URL", u, doc.TokenEndpoint)
	}
	if tu.Scheme != base.Scheme || tu.Host != base.Host {
		return "", fmt.Errorf("the token endpoint %s is not on %s://%s; point -base at the server's own address (its --base-url)",
			doc.TokenEndpoint, base.Scheme, base.Host)
	}
	return doc.TokenEndpoint, nil
}

// Config is what a Source needs.
type Config struct {
	ClientID string
	Key      *Key
	TokenURL string // the assertion's aud, and where it is posted
	Scope    string // space separated system scopes
	HTTP     *http.Client
	// RenewBefore: see DefaultRenewBefore (0: that default).
	RenewBefore time.Duration
	Now         func() time.Time // nil: time.Now
}

// TokenError is the token endpoint's refusal, in RFC 6749 terms.
type TokenError struct {
	Status      int
	Code        string // invalid_client, invalid_scope, ...
	Description string
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("the token endpoint answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Source hands out one access token to any number of goroutines and gets
// the next one before it expires. One request at a time goes to the token
// endpoint: while it is under way, callers keep the old token if it still
// lasts and otherwise wait for the new one.
type Source struct {
	cfg    Config
	signer jose.Signer

	mu       sync.Mutex
	token    string
	renewAt  time.Time // from then on, the next caller renews
	expireAt time.Time // from then on, the token is not handed out
	retryAt  time.Time // after a failed renewal, the earliest next one
	flight   *flight   // the token request under way, or nil
}

// flight is one token request; done closes when it ends.
type flight struct {
	done     chan struct{}
	err      error
	canceled bool // ended by its caller's context, not by the server
}

// NewSource checks cfg; the first token is requested by the first Token.
func NewSource(cfg Config) (*Source, error) {
	switch {
	case cfg.ClientID == "":
		return nil, errors.New("no client id")
	case cfg.Key == nil:
		return nil, errors.New("no key")
	case cfg.TokenURL == "":
		return nil, errors.New("no token URL")
	case cfg.Scope == "":
		return nil, errors.New("no scope")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	if cfg.RenewBefore <= 0 {
		cfg.RenewBefore = DefaultRenewBefore
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: cfg.Key.alg, Key: jose.JSONWebKey{Key: cfg.Key.signer, KeyID: cfg.Key.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, signer: signer}, nil
}

// Token returns an access token to send now. A renewal that fails while
// the old token lasts is tried again after a pause, and its error is
// returned only once the old token is spent.
func (s *Source) Token(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		now := s.cfg.Now()
		lasts := s.token != "" && now.Before(s.expireAt)
		if lasts && (now.Before(s.renewAt) || now.Before(s.retryAt) || s.flight != nil) {
			tok := s.token
			s.mu.Unlock()
			return tok, nil
		}
		if f := s.flight; f != nil {
			s.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if f.err != nil && !f.canceled {
				return "", f.err
			}
			continue // a new token, or the one who asked gave up: look again
		}
		f := &flight{done: make(chan struct{})}
		s.flight = f
		s.mu.Unlock()

		tok, life, err := s.request(ctx, now)

		s.mu.Lock()
		s.flight = nil
		switch {
		case err == nil:
			s.token = tok
			s.renewAt = now.Add(life - min(s.cfg.RenewBefore, life/2))
			s.expireAt = now.Add(life - min(expiryMargin, life/10))
			s.retryAt = time.Time{}
		default:
			f.err, f.canceled = err, ctx.Err() != nil
			s.retryAt = s.cfg.Now().Add(retryPause)
		}
		close(f.done)
		s.mu.Unlock()
		if err != nil && (ctx.Err() != nil || !lasts) {
			return "", err
		}
		// Renewed, or the renewal failed and the old token still lasts.
	}
}

// request posts a fresh assertion and reads the token and its life; now
// is when it was sent, the conservative start of that life.
func (s *Source) request(ctx context.Context, now time.Time) (string, time.Duration, error) {
	assertion, err := s.assertion(now)
	if err != nil {
		return "", 0, fmt.Errorf("signing the client assertion: %w", err)
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {s.cfg.Scope},
		"client_assertion_type": {assertionType},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return "", 0, fmt.Errorf("token request: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// An RFC 6749 error answer carries no token: safe to show.
		var e struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
		}
		json.Unmarshal(body, &e)
		return "", 0, &TokenError{Status: resp.StatusCode, Code: e.Code, Description: e.Description}
	}
	var ok struct {
		AccessToken string  `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   float64 `json:"expires_in"`
	}
	// A success answer holds the token: its errors never quote it.
	if json.Unmarshal(body, &ok) != nil {
		return "", 0, errors.New("the token endpoint's answer is not the JSON of a token")
	}
	switch {
	case ok.AccessToken == "":
		return "", 0, errors.New("the token endpoint's answer has no access_token")
	case ok.TokenType != "" && !strings.EqualFold(ok.TokenType, "bearer"):
		return "", 0, fmt.Errorf("the token endpoint gave a %q token, not a bearer token", ok.TokenType)
	case ok.ExpiresIn < 1:
		return "", 0, errors.New("the token endpoint's answer has no expires_in")
	}
	return ok.AccessToken, time.Duration(ok.ExpiresIn * float64(time.Second)), nil
}

// assertion is a client assertion as SMART Backend Services asks for:
// iss and sub the client id, aud the token URL, a short exp, a unique jti.
func (s *Source) assertion(now time.Time) (string, error) {
	jti := make([]byte, 16)
	rand.Read(jti)
	return jwt.Signed(s.signer).Claims(jwt.Claims{
		Issuer:   s.cfg.ClientID,
		Subject:  s.cfg.ClientID,
		Audience: jwt.Audience{s.cfg.TokenURL},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLife)),
		ID:       base64.RawURLEncoding.EncodeToString(jti),
	}).Serialize()
}

// HowToRegister tells how to make a key, register it with the server and
// run tool with it.
func HowToRegister(tool string) string {
	return "register a SMART backend client and run with -client and -key:\n" +
		"  go run ./cmd/fhirbench keygen -out bench\n" +
		"  fhirserver client add --id fhirbench --type backend --scope \"system/*.cruds\" --jwks-file bench.jwks.json\n" +
		"  go run ./cmd/" + tool + " -client fhirbench -key bench.key ..."
}
