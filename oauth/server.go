package oauth

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/token/hmac"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth/scope"
)

// Config is the authorization server's configuration, read once by
// cmd/fhirserver.
type Config struct {
	// BaseURL is the FHIR base (http://localhost:8080/fhir): the SMART
	// aud every authorize request must name, and the issuer.
	BaseURL string
	// Records holds clients, accounts, codes, tokens, sessions and keys.
	Records fhir.Records
	// Store is read for launch context: a proxy's RelatedPerson, the
	// patient picker's search.
	Store fhir.Store
	// AccessTokenLifespan is at most an hour (SMART); default an hour.
	AccessTokenLifespan time.Duration
	// OfflineLifespan is how long an offline_access refresh token lives;
	// default 90 days.
	OfflineLifespan time.Duration
	// IdleTimeout and AbsoluteTimeout bound login sessions (15 minutes,
	// 12 hours by default).
	IdleTimeout, AbsoluteTimeout time.Duration
	Now                          func() time.Time
	Logger                       *slog.Logger
	// HTTPClient fetches clients' JWKS URLs.
	HTTPClient *http.Client
	// SearchPatients runs a Patient search (the staff patient picker).
	SearchPatients func(ctx context.Context, query url.Values) ([]*fhir.Resource, error)
	// Demo puts a "not for real patients" banner on every page.
	Demo bool
	// StepUpMaxAge is how recent a two-factor sign-in must be for a
	// sensitive interaction (DefaultStepUpMaxAge when zero).
	StepUpMaxAge time.Duration
	// Events receives sign-ins, tokens, revocations and the registries'
	// changes (nil: nothing is reported).
	Events SecurityEvents
	// AccessReports gives the access report page its lines (nil: the
	// page says it is not available).
	AccessReports AccessReports
	// RequireACR is the level every user token needs: ACRTwoFactor (the
	// default when empty) or ACRPhishingResistant. A password alone is
	// refused: no configuration issues a user token without a second
	// factor. A client's RequireACR may raise it.
	RequireACR string
	// TypeACR raises the level for user tokens whose scopes reach a
	// resource type (its key; a wildcard scope reaches every type): for
	// example DocumentReference → ACRPhishingResistant.
	TypeACR map[string]string
	// MFADeferrals is how many times an account without a second factor
	// may put off setting one up at sign-in (0: at once).
	MFADeferrals int
	// TrustedDeviceLife is how long a device a user trusted skips the
	// second factor of routine sign-ins (DefaultTrustedDeviceLife when
	// zero).
	TrustedDeviceLife time.Duration
	// Location is the time zone of the risk signals' hours of day
	// (time.Local when nil).
	Location *time.Location
	// Sender carries fallback sign-in codes and security notices to
	// users' verified phones and emails (nil: no fallback codes and no
	// notices).
	Sender Sender
}

// Server is the SMART App Launch authorization server.
type Server struct {
	cfg      Config
	base     string // FHIR base URL
	root     string // scheme://host[:port]
	issuer   string
	tokenURL string
	now      func() time.Time
	log      *slog.Logger

	provider fosite.OAuth2Provider
	fcfg     *fosite.Config
	strategy *compose.CommonStrategy
	enigma   *hmac.HMACStrategy // checks an access token's HMAC
	storage  *storage
	clients  Clients
	accounts Accounts
	keys     Keys
	logins   logins
	jwks     *jwksCache
	csrfKey  []byte
	riskKey  []byte // keys the hashes of sign-in history (risk.go)
	pages    *template.Template
	origins  *originCache
	// rp is the WebAuthn relying party (nil: passkeys are off, the base
	// URL's host cannot be an RP ID); passkeys their registry.
	rp       *webauthn.WebAuthn
	passkeys passkeys
}

// New builds the server; it creates the first signing key and the token
// secret when the store has none.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AccessTokenLifespan <= 0 || cfg.AccessTokenLifespan > time.Hour {
		cfg.AccessTokenLifespan = time.Hour
	}
	if cfg.OfflineLifespan <= 0 {
		cfg.OfflineLifespan = 90 * 24 * time.Hour
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = 12 * time.Hour
	}
	if cfg.TrustedDeviceLife <= 0 {
		cfg.TrustedDeviceLife = DefaultTrustedDeviceLife
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if err := checkRequireACR(cfg.RequireACR); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	if err := CheckTypeACR(cfg.TypeACR); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	if cfg.RequireACR == "" {
		cfg.RequireACR = ACRTwoFactor
	}
	if cfg.HTTPClient == nil {
		// A client's JWKS URL is fetched as registered: no redirects.
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	root := base
	if i := strings.Index(base, "://"); i >= 0 {
		if j := strings.IndexByte(base[i+3:], '/'); j >= 0 {
			root = base[:i+3+j]
		}
	}
	s := &Server{
		cfg: cfg, base: base, root: root, issuer: base, tokenURL: root + "/oauth/token",
		now: cfg.Now, log: cfg.Logger,
		storage: &storage{rec: cfg.Records, now: cfg.Now},
		clients: Clients{Records: cfg.Records, Now: cfg.Now, Events: cfg.Events, Logger: cfg.Logger},
		keys:    Keys{Records: cfg.Records, Now: cfg.Now, Events: cfg.Events, Logger: cfg.Logger},
		logins:  logins{rec: cfg.Records, now: cfg.Now, idle: cfg.IdleTimeout, absolute: cfg.AbsoluteTimeout},
		jwks:    &jwksCache{client: cfg.HTTPClient},
		pages:   parsePages(),
	}
	s.accounts = Accounts{Records: cfg.Records, Now: cfg.Now, Revoke: s.RevokeAccount, Sender: cfg.Sender, Events: cfg.Events, Logger: cfg.Logger}
	s.origins = &originCache{clients: s.clients, now: cfg.Now}
	s.passkeys = passkeys{rec: cfg.Records}
	if rp, err := newRelyingParty(root); err != nil {
		s.log.Warn("passkeys are off: the base URL's host cannot be a WebAuthn RP ID (use a host name, such as localhost)", "err", err)
	} else {
		s.rp = rp
	}
	if err := s.keys.Ensure(ctx); err != nil {
		return nil, err
	}
	secret, err := hmacSecret(ctx, cfg.Records)
	if err != nil {
		return nil, err
	}
	s.csrfKey = append([]byte("csrf"), secret...)
	s.riskKey = append([]byte("risk"), secret...)
	s.fcfg = &fosite.Config{
		AccessTokenLifespan:          cfg.AccessTokenLifespan,
		RefreshTokenLifespan:         cfg.OfflineLifespan,
		AuthorizeCodeLifespan:        5 * time.Minute,
		IDTokenLifespan:              time.Hour,
		IDTokenIssuer:                s.issuer,
		AccessTokenIssuer:            s.issuer,
		ScopeStrategy:                scope.Strategy,
		EnforcePKCE:                  true,
		TokenURL:                     s.tokenURL,
		GlobalSecret:                 secret,
		RefreshTokenScopes:           []string{"offline_access", "online_access"},
		MinParameterEntropy:          fosite.MinParameterEntropy,
		ClientAuthenticationStrategy: s.authenticateClient,
		ClientSecretsHasher:          secretHasher{},
	}
	core := compose.NewOAuth2HMACStrategy(s.fcfg)
	s.enigma = core.Enigma
	s.strategy = &compose.CommonStrategy{
		CoreStrategy:               core,
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(s.keys.Signer, s.fcfg),
		Signer:                     &fjwt.DefaultSigner{GetPrivateKey: s.keys.Signer},
	}
	s.provider = compose.Compose(s.fcfg, s.storage, s.strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	)
	return s, nil
}

// Clients, Accounts and Keys give the command line its registries.
func (s *Server) Clients() Clients   { return s.clients }
func (s *Server) Accounts() Accounts { return s.accounts }
func (s *Server) Keys() Keys         { return s.keys }

// RevokeAccount ends every login session, trusted device, code and
// token of an account.
func (s *Server) RevokeAccount(ctx context.Context, accountID string) error {
	return RevokeAccount(ctx, s.cfg.Records, accountID)
}

// RevokeAccount ends every login session, trusted device, code and token
// of an account; the command line calls it without a running server.
func RevokeAccount(ctx context.Context, rec fhir.Records, accountID string) error {
	st := &storage{rec: rec, now: time.Now}
	for _, kind := range []string{kindLogin, kindDevice, kindAccess, kindRefresh, kindCode, kindPKCE, kindOIDC} {
		name := "subject"
		if kind == kindLogin || kind == kindDevice {
			name = "account"
		}
		if err := st.deleteWhere(ctx, kind, name, accountID); err != nil {
			return fmt.Errorf("oauth: revoke account: %w", err)
		}
	}
	return nil
}
