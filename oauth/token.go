package oauth

import (
	"errors"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth/scope"
)

// token is the token endpoint: authorization_code, refresh_token and
// client_credentials, through fosite, plus what SMART adds: the launch
// context in the response, scope narrowing at refresh, system scopes
// only for backend services.
func (s *Server) token(c echo.Context) error {
	ctx, w := c.Request().Context(), c.Response()
	sess := newSession()
	ar, err := s.provider.NewAccessRequest(ctx, c.Request(), sess)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return nil
	}
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		err = s.backendGrant(ar, sess)
	case ar.GetGrantTypes().ExactOne("refresh_token"):
		err = s.refreshGrant(c, ar)
	}
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return nil
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return nil
	}
	resp.SetTokenType("Bearer")
	if ses, ok := ar.GetSession().(*Session); ok && ses.Account != "" {
		if ses.Patient != "" {
			resp.SetExtra("patient", ses.Patient)
			resp.SetExtra("need_patient_banner", ses.Banner)
		} else {
			resp.SetExtra("need_patient_banner", false)
		}
		if ses.Encounter != "" {
			resp.SetExtra("encounter", ses.Encounter)
		}
		resp.SetExtra("smart_style_url", s.root+"/oauth/style.json")
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
	return nil
}

// backendGrant grants a backend service the system scopes it asked for
// and its registration allows (fosite has checked the latter).
func (s *Server) backendGrant(ar fosite.AccessRequester, sess *Session) error {
	for _, raw := range ar.GetRequestedScopes() {
		sc, err := scope.Parse(raw)
		p, ok := sc.Permission()
		if err != nil || !ok || p.Level != scope.System {
			return fosite.ErrInvalidScope.WithHintf("Backend services may request system scopes only; %q is not one.", raw)
		}
		ar.GrantScope(raw)
	}
	sess.Subject = ar.GetClient().GetID()
	sess.Issuer = s.issuer
	return nil
}

// refreshGrant narrows the scope when the request asks for less (fosite
// would grant the original scope again) and ends the grant when its user
// is disabled or, for online_access, signed out.
func (s *Server) refreshGrant(c echo.Context, ar fosite.AccessRequester) error {
	ctx := c.Request().Context()
	ses, _ := ar.GetSession().(*Session)
	if ses != nil && ses.Account != "" {
		acct, err := s.accounts.Get(ctx, ses.Account)
		if errors.Is(err, fhir.ErrNotFound) || (err == nil && acct.Disabled) {
			return fosite.ErrInvalidGrant.WithHint("The user's account is disabled.")
		} else if err != nil {
			return err
		}
		if ar.GetGrantedScopes().Has("online_access") && !ar.GetGrantedScopes().Has("offline_access") && !s.logins.alive(ctx, ses.Login) {
			return fosite.ErrInvalidGrant.WithHint("The user's session has ended.")
		}
		if ses.Proxy != "" && ses.Patient != "" {
			linked, err := s.proxyLinked(ctx, ses.Proxy, ses.Patient)
			if err != nil {
				return err
			}
			if !linked {
				return fosite.ErrInvalidGrant.WithHint("The caregiver is no longer linked to this patient.")
			}
		}
	}
	asked := strings.Fields(ar.GetRequestForm().Get("scope"))
	if len(asked) == 0 {
		return nil
	}
	if !scope.Subset(ar.GetGrantedScopes(), asked) {
		return fosite.ErrInvalidScope.WithHint("A refresh may only ask for scopes already granted.")
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError
	}
	req.GrantedScope = fosite.Arguments(asked)
	return nil
}

func (s *Server) introspect(c echo.Context) error {
	ctx := c.Request().Context()
	ir, err := s.provider.NewIntrospectionRequest(ctx, c.Request(), newSession())
	if err != nil {
		s.provider.WriteIntrospectionError(ctx, c.Response(), err)
		return nil
	}
	if ir.IsActive() && !s.mayIntrospect(c, ir.GetAccessRequester().GetClient().GetID()) {
		// Not the caller's business: the same answer as for an unknown token.
		s.provider.WriteIntrospectionError(ctx, c.Response(), fosite.ErrInactiveToken)
		return nil
	}
	s.provider.WriteIntrospectionResponse(ctx, c.Response(), ir)
	return nil
}

// mayIntrospect: a client learns about its own tokens; a resource server
// (a client registered with, or a token holding, a system scope) about
// any token. fosite has authenticated the caller already.
func (s *Server) mayIntrospect(c echo.Context, tokenClient string) bool {
	r := c.Request()
	// The caller is who fosite authenticated: a bearer token (header or
	// access_token form field) when there is one, else Basic credentials.
	if tok := fosite.AccessTokenFromRequest(r); tok != "" {
		p, err := s.principal(r.Context(), tok)
		if err != nil || p == nil {
			return false
		}
		if p.Client == tokenClient {
			return true
		}
		for _, perm := range p.Scopes {
			if perm.Level == scope.System {
				return true
			}
		}
		return false
	}
	id, _, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if v, err := url.QueryUnescape(id); err == nil {
		id = v
	}
	if id == tokenClient {
		return true
	}
	caller, err := s.clients.Get(r.Context(), id)
	if err != nil {
		return false
	}
	for _, raw := range caller.Scopes {
		if strings.HasPrefix(raw, scope.System+"/") {
			return true
		}
	}
	return false
}

func (s *Server) revoke(c echo.Context) error {
	ctx := c.Request().Context()
	err := s.provider.NewRevocationRequest(ctx, c.Request())
	s.provider.WriteRevocationResponse(ctx, c.Response(), err)
	return nil
}

// noStore marks every OAuth endpoint's answer uncacheable (fosite does it
// for most; this covers the rest, errors included).
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		return next(c)
	}
}
