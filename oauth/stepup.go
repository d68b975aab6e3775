package oauth

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// DefaultStepUpMaxAge is how recent a strong sign-in must be for a
// sensitive interaction.
const DefaultStepUpMaxAge = 15 * time.Minute

// StepUp asks for a recent sign-in with two factors (RFC 9470) before the
// sensitive interactions: downloading a whole record ($everything),
// documents and their attachments (Binary, DocumentReference), and
// changes to who may see the record (Consent writes). A user whose token
// does not show it gets 401 insufficient_user_authentication with the
// acr_values and max_age to ask for; the app sends them through the
// authorization endpoint again. Backend services, which sign in no user,
// are not asked. It runs after the token check.
func (s *Server) StepUp(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := fhir.PrincipalFrom(c.Request().Context())
		if p == nil || p.Subject == "" || p.Subject == p.Client || !sensitive(c) {
			return next(c)
		}
		maxAge := s.cfg.StepUpMaxAge
		if maxAge <= 0 {
			maxAge = DefaultStepUpMaxAge
		}
		// A trusted device or a code by text or email standing in for
		// the second factor is never strong enough here.
		strong := StrongAuthentication(p.ACR, p.AMR)
		if strong && s.now().Sub(p.AuthTime) <= maxAge {
			return next(c)
		}
		desc := "A sign-in with two factors is required"
		if strong {
			desc = "A more recent sign-in is required"
		}
		e := fhir.InsufficientAuthentication(s.base, desc, ACRTwoFactor, maxAge)
		c.Response().Header().Set("WWW-Authenticate", e.Challenge)
		return e
	}
}

// sensitive tells whether the request is one step-up guards.
func sensitive(c echo.Context) bool {
	route, method := c.Path(), c.Request().Method
	if strings.HasSuffix(route, "/$everything") {
		return true
	}
	switch typ := c.Param("type"); typ {
	case "Binary", "DocumentReference":
		return true
	case "Consent":
		return method != http.MethodGet && method != http.MethodHead
	}
	return false
}
