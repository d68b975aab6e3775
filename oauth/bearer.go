package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
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
		p, err := s.principal(r.Context(), tok)
		if err != nil {
			return err
		}
		if p == nil {
			return s.unauthorized(c, "invalid_token", "the access token is invalid, expired or revoked")
		}
		c.SetRequest(r.WithContext(fhir.WithPrincipal(r.Context(), p)))
		return next(c)
	}
}

// principal checks the token's HMAC, then reads its record: one point
// read, decoding only the record's head line. It returns nil for a token
// that is not (or no longer) valid.
func (s *Server) principal(ctx context.Context, tok string) (*fhir.Principal, error) {
	if s.enigma.Validate(ctx, strings.TrimPrefix(tok, "ory_at_")) != nil {
		return nil, nil
	}
	r, err := s.cfg.Records.GetRecord(ctx, kindAccess, s.strategy.AccessTokenSignature(ctx, tok))
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	line := r.Data
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	var h accessHead
	if err := json.Unmarshal(line, &h); err != nil || h.Principal == nil || !s.now().Before(h.Exp) {
		return nil, nil
	}
	if h.Proxy != "" && h.Principal.Patient != "" {
		// A caregiver's access ends when the care team ends the link.
		linked, err := s.proxyLinked(ctx, h.Proxy, h.Principal.Patient)
		if err != nil || !linked {
			return nil, err
		}
	}
	return h.Principal, nil
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
