package oauth

import (
	"context"
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
		s.tokenRefused(c, ar, sess, "", err)
		s.provider.WriteAccessError(ctx, w, ar, err)
		return nil
	}
	why := ""
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		err = s.backendGrant(ar, sess)
	case ar.GetGrantTypes().ExactOne("refresh_token"):
		why, err = s.refreshGrant(c, ar)
	case s.tooWeak(ar):
		// A code made before the app's level was raised.
		why, err = "sign-in weaker than the app requires", fosite.ErrInvalidGrant.WithHint("Sign in again with the second factor this app requires.")
	}
	if err != nil {
		s.tokenRefused(c, ar, sess, why, err)
		s.provider.WriteAccessError(ctx, w, ar, err)
		return nil
	}
	// The grant is decided; it is recorded before any token exists, and
	// none is issued when it cannot be (a refresh token is not spent then,
	// and can be tried again). A refresh issues a new access token too.
	// fosite grants a code's scopes only while issuing: until then they
	// are the stored request's.
	ev := grantEvent(tokenKind(c), ar.GetClient().GetID(), ar.GetID(), ar.GetSession(), ar.GetGrantedScopes())
	ev.Success, ev.Detail = true, "tokens issued"
	if err := s.reportOrFail(c, ev); err != nil {
		s.provider.WriteAccessError(ctx, w, ar, fosite.ErrTemporarilyUnavailable.WithHint("The server cannot issue tokens right now."))
		return nil
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		ev.Success, ev.Detail = false, "not issued after all: "+refusal(err)
		s.report(c, ev)
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

// tokenKind is the event kind of a token request: a refresh, or the
// issue of a new grant's tokens.
func tokenKind(c echo.Context) string {
	if c.Request().PostForm.Get("grant_type") == "refresh_token" {
		return TokenRefreshed
	}
	return TokenIssued
}

// tokenRefused reports a refused token request: why is the refresh
// check's reason, else a reused code or refresh token, else the error
// code. A refusal grants nothing: a failed report is only logged.
func (s *Server) tokenRefused(c echo.Context, ar fosite.AccessRequester, sess *Session, why string, err error) {
	var grantSess fosite.Session = sess
	client := ""
	if ar != nil {
		grantSess = ar.GetSession()
		if cl := ar.GetClient(); cl != nil {
			client = cl.GetID()
		}
	}
	if client == "" {
		client = s.presentedClient(c)
	}
	// The grant is the one the storage loaded, if any: a refused request
	// has no grant of its own.
	ev := grantEvent(tokenKind(c), client, "", grantSess, nil)
	ev.Detail = why
	if why == "" && spent(grantSess) {
		if ev.Kind == TokenRefreshed {
			ev.Detail = "refresh token used again; its grant was revoked"
		} else {
			ev.Detail = "authorization code used again; its grant was revoked"
		}
	}
	if ev.Detail == "" {
		ev.Detail = refusal(err)
	}
	s.report(c, ev)
}

// grantEvent describes a grant's session for an event. Without a grant
// or scopes of its own, it takes those of the stored request the session
// was loaded from, if any.
func grantEvent(kind string, client, grant string, sess fosite.Session, scopes []string) SecurityEvent {
	e := SecurityEvent{Kind: kind, Client: client, Grant: grant, Scopes: scopes}
	if ses, ok := sess.(*Session); ok && ses != nil {
		e.Account, e.Patient = ses.Account, ses.Patient
		if len(ses.Roles) > 0 {
			e.Role = ses.Roles[0]
		}
		if ses.loaded != nil {
			if e.Grant == "" {
				e.Grant = ses.loaded.ID
			}
			if len(e.Scopes) == 0 {
				e.Scopes = ses.loaded.Granted
			}
		}
	}
	return e
}

// spent tells whether the session was loaded from a code or refresh
// token already used.
func spent(sess fosite.Session) bool {
	ses, ok := sess.(*Session)
	return ok && ses != nil && ses.loaded != nil && !ses.loaded.Active
}

// presentedClient is the client a request names (Basic user name or
// client_id) when it is registered: who a request that failed
// authentication claimed to be. Anything else is left out, so that no
// arbitrary text reaches the audit trail.
func (s *Server) presentedClient(c echo.Context) string {
	r := c.Request()
	id, _, ok := r.BasicAuth()
	if ok {
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
	} else {
		id = r.PostForm.Get("client_id")
	}
	if !clientIDPattern.MatchString(id) {
		return ""
	}
	if _, err := s.clients.Get(r.Context(), id); err != nil {
		return ""
	}
	return id
}

// tooWeak tells whether a user's grant was signed in to with less than
// its client now requires (backend services sign in no user).
func (s *Server) tooWeak(ar fosite.Requester) bool {
	ses, ok := ar.GetSession().(*Session)
	if !ok || ses == nil || ses.Account == "" {
		return false
	}
	client, _ := ar.GetClient().(*Client)
	return !meets(ses.ACR, s.required(client, ar.GetGrantedScopes()))
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
// is disabled or, for online_access, signed out. When it refuses, it also
// says why, for the audit trail.
func (s *Server) refreshGrant(c echo.Context, ar fosite.AccessRequester) (string, error) {
	ctx := c.Request().Context()
	ses, _ := ar.GetSession().(*Session)
	if ses != nil && ses.Account != "" {
		if s.tooWeak(ar) {
			// A refresh keeps the sign-in's level: it never upgrades a
			// grant made with less than the app now requires.
			return "sign-in weaker than the app requires", fosite.ErrInvalidGrant.WithHint("Sign in again with the second factor this app requires.")
		}
		acct, err := s.accounts.Get(ctx, ses.Account)
		if errors.Is(err, fhir.ErrNotFound) || (err == nil && acct.Disabled) {
			return "account disabled or removed", fosite.ErrInvalidGrant.WithHint("The user's account is disabled.")
		} else if err != nil {
			return "", err
		}
		if ar.GetGrantedScopes().Has("online_access") && !ar.GetGrantedScopes().Has("offline_access") && !s.logins.alive(ctx, ses.Login) {
			return "sign-in session ended", fosite.ErrInvalidGrant.WithHint("The user's session has ended.")
		}
		if ses.Proxy != "" && ses.Patient != "" {
			linked, err := s.proxyLinked(ctx, ses.Proxy, ses.Patient)
			if err != nil {
				return "", err
			}
			if !linked {
				return "caregiver no longer linked to the patient", fosite.ErrInvalidGrant.WithHint("The caregiver is no longer linked to this patient.")
			}
		}
	}
	asked := strings.Fields(ar.GetRequestForm().Get("scope"))
	if len(asked) == 0 {
		return "", nil
	}
	if !scope.Subset(ar.GetGrantedScopes(), asked) {
		return "asked for scopes not granted before", fosite.ErrInvalidScope.WithHint("A refresh may only ask for scopes already granted.")
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return "", fosite.ErrServerError
	}
	req.GrantedScope = fosite.Arguments(asked)
	return "", nil
}

// introspect answers a resource server or a client about a token. A
// caller that fails authentication, or asks about a token that is not its
// business, is reported (and only logged when that fails: the answer
// reveals nothing either way).
func (s *Server) introspect(c echo.Context) error {
	ctx := c.Request().Context()
	ir, err := s.provider.NewIntrospectionRequest(ctx, c.Request(), newSession())
	if err != nil {
		if !errors.Is(err, fosite.ErrInactiveToken) {
			ev := SecurityEvent{Kind: IntrospectionFailed, Client: s.presentedClient(c), Detail: refusal(err)}
			if errors.Is(err, fosite.ErrRequestUnauthorized) {
				ev.Detail = "caller not authenticated"
			}
			s.report(c, ev)
		}
		s.provider.WriteIntrospectionError(ctx, c.Response(), err)
		return nil
	}
	if ir.IsActive() {
		ar := ir.GetAccessRequester()
		if caller, ok := s.mayIntrospect(c, ar.GetClient().GetID()); !ok {
			ev := grantEvent(IntrospectionFailed, caller, ar.GetID(), ar.GetSession(), nil)
			ev.Detail = "caller may not introspect this token"
			s.report(c, ev)
			// Not the caller's business: the same answer as for an unknown token.
			s.provider.WriteIntrospectionError(ctx, c.Response(), fosite.ErrInactiveToken)
			return nil
		}
	}
	s.provider.WriteIntrospectionResponse(ctx, c.Response(), ir)
	return nil
}

// mayIntrospect: a client learns about its own tokens; a resource server
// (a client registered with, or a token holding, a system scope) about
// any token. fosite has authenticated the caller already; mayIntrospect
// also returns the caller's client id.
func (s *Server) mayIntrospect(c echo.Context, tokenClient string) (string, bool) {
	r := c.Request()
	// The caller is who fosite authenticated: a bearer token (header or
	// access_token form field) when there is one, else Basic credentials.
	if tok := fosite.AccessTokenFromRequest(r); tok != "" {
		p, err := s.principal(r.Context(), tok)
		if err != nil || p == nil {
			return "", false
		}
		if p.Client == tokenClient {
			return p.Client, true
		}
		for _, perm := range p.Scopes {
			if perm.Level == scope.System {
				return p.Client, true
			}
		}
		return p.Client, false
	}
	id, _, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	if v, err := url.QueryUnescape(id); err == nil {
		id = v
	}
	if id == tokenClient {
		return id, true
	}
	caller, err := s.clients.Get(r.Context(), id)
	if err != nil {
		return "", false
	}
	for _, raw := range caller.Scopes {
		if strings.HasPrefix(raw, scope.System+"/") {
			return id, true
		}
	}
	return id, false
}

// revoke ends the grant of a refresh or access token (RFC 7009). What the
// token belonged to is read first, for the event; revoking takes access
// away, so a failed report is logged and the revocation stands.
func (s *Server) revoke(c echo.Context) error {
	ctx, r := c.Request().Context(), c.Request()
	var owner fosite.Requester
	if err := r.ParseForm(); err == nil {
		owner = s.tokenOwner(ctx, r.PostForm.Get("token"))
	}
	err := s.provider.NewRevocationRequest(ctx, r)
	ev := SecurityEvent{Kind: TokenRevoked, Success: err == nil}
	switch {
	case err != nil:
		ev.Client, ev.Detail = s.presentedClient(c), refusal(err)
		if owner != nil {
			// The grant the caller tried to end, which is not theirs.
			ev.Grant = owner.GetID()
		}
	case owner != nil:
		ev = grantEvent(TokenRevoked, owner.GetClient().GetID(), owner.GetID(), owner.GetSession(), nil)
		ev.Success, ev.Detail = true, "grant revoked with its access and refresh tokens"
	default:
		ev.Client, ev.Detail = s.presentedClient(c), "unknown or expired token: nothing to revoke"
	}
	s.report(c, ev)
	s.provider.WriteRevocationResponse(ctx, c.Response(), err)
	return nil
}

// tokenOwner is the stored request of a refresh or access token, or nil.
func (s *Server) tokenOwner(ctx context.Context, token string) fosite.Requester {
	if token == "" {
		return nil
	}
	if req, _, _, err := s.storage.get(ctx, kindRefresh, s.strategy.RefreshTokenSignature(ctx, token), nil); err == nil {
		return req
	}
	if req, _, _, err := s.storage.get(ctx, kindAccess, s.strategy.AccessTokenSignature(ctx, token), nil); err == nil {
		return req
	}
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
