package oauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/oauth/scope"
)

// Capabilities are the SMART capabilities the server implements.
var Capabilities = []string{
	"launch-ehr", "launch-standalone", "authorize-post",
	"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
	"sso-openid-connect", "context-banner", "context-style",
	"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
	"permission-offline", "permission-online", "permission-patient", "permission-user",
	"permission-v1", "permission-v2",
}

// Endpoints are the absolute URLs of the authorization server.
type Endpoints struct {
	Authorize, Token, Introspect, Revoke, JWKS, Issuer string
}

// Endpoints returns the server's URLs (the CapabilityStatement's
// oauth-uris extension names them too).
func (s *Server) Endpoints() Endpoints {
	return Endpoints{
		Authorize:  s.root + "/oauth/authorize",
		Token:      s.tokenURL,
		Introspect: s.root + "/oauth/introspect",
		Revoke:     s.root + "/oauth/revoke",
		JWKS:       s.root + "/oauth/jwks",
		Issuer:     s.issuer,
	}
}

func (s *Server) smartConfiguration(c echo.Context) error {
	e := s.Endpoints()
	doc := map[string]any{
		"issuer":                                e.Issuer,
		"jwks_uri":                              e.JWKS,
		"authorization_endpoint":                e.Authorize,
		"token_endpoint":                        e.Token,
		"introspection_endpoint":                e.Introspect,
		"revocation_endpoint":                   e.Revoke,
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"scopes_supported":         scope.ScopesSupported(),
		"response_types_supported": []string{"code"},
		"capabilities":             Capabilities,
	}
	return writeDoc(c, doc)
}

func (s *Server) openidConfiguration(c echo.Context) error {
	e := s.Endpoints()
	doc := map[string]any{
		"issuer":                                e.Issuer,
		"authorization_endpoint":                e.Authorize,
		"token_endpoint":                        e.Token,
		"jwks_uri":                              e.JWKS,
		"introspection_endpoint":                e.Introspect,
		"revocation_endpoint":                   e.Revoke,
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "fhirUser", "profile", "offline_access", "online_access"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "fhirUser"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"code_challenge_methods_supported":      []string{"S256"},
		"acr_values_supported":                  ACRValues,
		"claims_parameter_supported":            false,
		"request_parameter_supported":           false,
	}
	return writeDoc(c, doc)
}

func (s *Server) jwksDoc(c echo.Context) error {
	set, err := s.keys.JWKS(c.Request().Context())
	if err != nil {
		return err
	}
	// Short, so a rotated key is fetched soon (and relying parties refetch
	// on an unknown kid anyway).
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	body, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", body)
}

// style is the smart_style_url document: the portal's colours, so an
// app can blend in.
func (s *Server) style(c echo.Context) error {
	return writeDoc(c, map[string]any{
		"color_background":     "#ffffff",
		"color_error":          "#b00020",
		"color_highlight":      "#005a9c",
		"color_modal_backdrop": "",
		"color_success":        "#1b5e20",
		"color_text":           "#1a1a1a",
		"dim_border_radius":    "6px",
		"dim_font_size":        "16px",
		"dim_spacing_size":     "16px",
		"font_family_body":     "system-ui, sans-serif",
		"font_family_heading":  "system-ui, sans-serif",
	})
}

// writeDoc answers JSON whatever the Accept header says (SMART requires
// it of the discovery documents).
func writeDoc(c echo.Context, doc any) error {
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", body)
}

// originCache remembers the registered clients' origins for a few
// seconds, so CORS checks do not read every client on each request.
type originCache struct {
	clients Clients
	now     func() time.Time
	mu      sync.Mutex
	at      time.Time
	set     map[string]bool
}

const originTTL = 5 * time.Second

func (o *originCache) allowed(c echo.Context, origin string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if now := o.now(); o.set == nil || now.Sub(o.at) > originTTL {
		list, err := o.clients.List(c.Request().Context())
		if err != nil {
			return false
		}
		m := map[string]bool{}
		for _, cl := range list {
			for _, or := range cl.Origins() {
				m[or] = true
			}
		}
		o.set, o.at = m, now
	}
	return o.set[strings.TrimRight(origin, "/")]
}

// CORS answers cross-origin requests: discovery documents and metadata
// for any origin; the token endpoint and the FHIR API only for the
// origins of registered clients.
func (s *Server) CORS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		origin := c.Request().Header.Get("Origin")
		if origin == "" {
			return next(c)
		}
		path := c.Request().URL.Path
		open := strings.Contains(path, "/.well-known/") || strings.HasSuffix(path, "/metadata") || path == "/oauth/jwks" || path == "/oauth/style.json"
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		if !open && !s.origins.allowed(c, origin) {
			return next(c)
		}
		if open {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		h.Set("Access-Control-Expose-Headers", "Location, ETag, Content-Location, Last-Modified, WWW-Authenticate")
		if c.Request().Method == http.MethodOptions && c.Request().Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, Prefer")
			h.Set("Access-Control-Max-Age", "600")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

// ACRValues are the authentication levels this server names in acr:
// a password alone, two factors, and two factors one of which resists
// phishing (a passkey).
var ACRValues = []string{ACRPassword, ACRTwoFactor, ACRPhishingResistant}

const (
	ACRPassword          = "urn:oncofhir:acr:password"
	ACRTwoFactor         = "urn:oncofhir:acr:2fa"
	ACRPhishingResistant = "urn:oncofhir:acr:phishing-resistant"
)

// CapabilitySecurity is the CapabilityStatement's rest.security: the
// SMART-on-FHIR service and the oauth-uris extension naming the
// endpoints.
func (s *Server) CapabilitySecurity() *models.CapabilityStatementRestSecurity {
	e := s.Endpoints()
	uri := func(name, v string) models.Extension {
		return models.Extension{Url: name, ValueUri: &v}
	}
	system, code, display := "http://terminology.hl7.org/CodeSystem/restful-security-service", "SMART-on-FHIR", "SMART-on-FHIR"
	text := "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"
	cors := true
	return &models.CapabilityStatementRestSecurity{
		Cors: &cors,
		Extension: []models.Extension{{
			Url: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			Extension: []models.Extension{
				uri("authorize", e.Authorize), uri("token", e.Token),
				uri("introspect", e.Introspect), uri("revoke", e.Revoke),
			},
		}},
		Service:     []models.CodeableConcept{{Coding: []models.Coding{{System: &system, Code: &code, Display: &display}}, Text: &text}},
		Description: &text,
	}
}
