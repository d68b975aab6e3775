package oauth

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth/scope"
)

// Bearer resolves the access token of every FHIR request into a
// fhir.Principal. Tokens are opaque and looked up each time, so a
// revoked token, a removed client or a disabled user fails on the very
// next request. metadata and the discovery documents need no token.
func (s *Server) Bearer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		path := r.URL.Path
		if strings.HasSuffix(path, "/metadata") || strings.Contains(path, "/.well-known/") || r.Method == http.MethodOptions {
			return next(c)
		}
		auth := r.Header.Get("Authorization")
		tok, ok := cutBearer(auth)
		if !ok {
			return s.unauthorized(c, "", "an access token is required")
		}
		sess := newSession()
		_, ar, err := s.provider.IntrospectToken(r.Context(), tok, fosite.AccessToken, sess)
		if err != nil {
			return s.unauthorized(c, "invalid_token", "the access token is invalid, expired or revoked")
		}
		p := &fhir.Principal{
			Subject: sess.Subject, FHIRUser: sess.FHIRUser, Roles: sess.Roles,
			Client: ar.GetClient().GetID(), Patient: sess.Patient, Encounter: sess.Encounter,
			Scopes: scope.Permissions(ar.GetGrantedScopes()), Grant: ar.GetID(),
			ACR: sess.ACR, AMR: sess.AMR, AuthTime: sess.AuthTime,
		}
		c.SetRequest(r.WithContext(fhir.WithPrincipal(r.Context(), p)))
		return next(c)
	}
}

func cutBearer(h string) (string, bool) {
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// unauthorized answers 401 as RFC 6750 says, with an OperationOutcome.
func (s *Server) unauthorized(c echo.Context, code, desc string) error {
	v := `Bearer realm="` + s.base + `"`
	if code != "" {
		v += `, error="` + code + `", error_description="` + desc + `"`
	}
	c.Response().Header().Set("WWW-Authenticate", v)
	return &fhir.Error{Code: fhir.CodeLogin, Status: http.StatusUnauthorized, Diagnostics: desc}
}
