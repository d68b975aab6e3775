package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth/scope"
)

// Record kinds kept through fhir.Records.
const (
	kindClient  = "oauth.client"
	kindCode    = "oauth.code"
	kindPKCE    = "oauth.pkce"
	kindOIDC    = "oauth.oidc"
	kindAccess  = "oauth.access"
	kindRefresh = "oauth.refresh"
	kindJTI     = "oauth.jti"
)

// storage is fosite's storage over fhir.Records: every code, token and
// client lives in the server's one database, so several processes share
// them and a revocation is seen by all on the next request.
type storage struct {
	rec fhir.Records
	now func() time.Time
}

// stored is a fosite request as kept in a record.
type stored struct {
	ID          string          `json:"id"`
	RequestedAt time.Time       `json:"requestedAt"`
	Client      string          `json:"client"`
	Requested   []string        `json:"requested,omitempty"`
	Granted     []string        `json:"granted,omitempty"`
	RequestedAu []string        `json:"requestedAudience,omitempty"`
	GrantedAu   []string        `json:"grantedAudience,omitempty"`
	Form        url.Values      `json:"form,omitempty"`
	Session     json.RawMessage `json:"session"`
	Active      bool            `json:"active"`
	AccessSig   string          `json:"accessSig,omitempty"`
}

func (s *storage) put(ctx context.Context, kind, key string, req fosite.Requester, exp time.Time, accessSig string) error {
	sess, err := json.Marshal(req.GetSession())
	if err != nil {
		return fmt.Errorf("oauth: encode session: %w", err)
	}
	st := stored{
		ID: req.GetID(), RequestedAt: req.GetRequestedAt(), Client: req.GetClient().GetID(),
		Requested: req.GetRequestedScopes(), Granted: req.GetGrantedScopes(),
		RequestedAu: req.GetRequestedAudience(), GrantedAu: req.GetGrantedAudience(),
		Form: sanitizeForm(req.GetRequestForm()), Session: sess, Active: true, AccessSig: accessSig,
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if kind == kindAccess {
		// An access token's record leads with a short line holding what
		// every FHIR request needs, so the bearer check decodes only that.
		h := accessHead{Exp: exp, Principal: principalOf(req)}
		if ses, ok := req.GetSession().(*Session); ok {
			h.Proxy = ses.Proxy
		}
		head, err := json.Marshal(h)
		if err != nil {
			return err
		}
		data = append(append(head, '\n'), data...)
	}
	attrs := map[string]string{"grant": st.ID, "client": st.Client}
	if sub := req.GetSession().GetSubject(); sub != "" {
		attrs["subject"] = sub
	}
	if ses, ok := req.GetSession().(*Session); ok && ses.Login != "" {
		attrs["login"] = ses.Login
		if g := req.GetGrantedScopes(); g.Has("online_access") && !g.Has("offline_access") {
			attrs["online"] = ses.Login // ends when that sign-in session ends
		}
	}
	return s.rec.PutRecord(ctx, &fhir.Record{Kind: kind, Key: key, Data: data, Attrs: attrs, Expires: exp})
}

// sanitizeForm keeps what later steps need from the original request and
// never a secret, a code or a verifier.
func sanitizeForm(f url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"redirect_uri", "nonce", "scope", "aud", "launch", "max_age", "acr_values", "prompt", "grant_type", "response_type", "state", "code_challenge", "code_challenge_method"} {
		if v, ok := f[k]; ok {
			out[k] = v
		}
	}
	return out
}

// get loads a request; it returns the request together with
// fosite.ErrInactiveToken (or ErrInvalidatedAuthorizeCode for codes) when
// the record is no longer active, as fosite's reuse detection needs.
func (s *storage) get(ctx context.Context, kind, key string, session fosite.Session) (*fosite.Request, *stored, *fhir.Record, error) {
	r, err := s.rec.GetRecord(ctx, kind, key)
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, nil, nil, fosite.ErrNotFound
	} else if err != nil {
		return nil, nil, nil, err
	}
	var st stored
	if err := json.Unmarshal(storedPart(r), &st); err != nil {
		return nil, nil, nil, fmt.Errorf("oauth: decode %s: %w", kind, err)
	}
	client, err := s.GetClient(ctx, st.Client)
	if err != nil {
		return nil, nil, nil, err // a removed client takes its grants with it
	}
	if session == nil {
		session = newSession()
	}
	if err := json.Unmarshal(st.Session, session); err != nil {
		return nil, nil, nil, fmt.Errorf("oauth: decode session: %w", err)
	}
	if ses, ok := session.(*Session); ok {
		ses.loaded = &st
	}
	req := &fosite.Request{
		ID: st.ID, RequestedAt: st.RequestedAt, Client: client,
		RequestedScope: st.Requested, GrantedScope: st.Granted,
		RequestedAudience: st.RequestedAu, GrantedAudience: st.GrantedAu,
		Form: st.Form, Session: session,
	}
	if req.Form == nil {
		req.Form = url.Values{}
	}
	return req, &st, r, nil
}

// accessHead is the first line of an access token's record.
type accessHead struct {
	Exp       time.Time       `json:"exp"`
	Principal *fhir.Principal `json:"p"`
	Proxy     string          `json:"proxy,omitempty"`
}

// storedPart is the stored request of a record (after the head line of
// an access token's record; JSON encoding never writes a raw newline).
func storedPart(r *fhir.Record) []byte {
	if r.Kind == kindAccess {
		if i := bytes.IndexByte(r.Data, '\n'); i >= 0 {
			return r.Data[i+1:]
		}
	}
	return r.Data
}

// principalOf is who a grant's tokens speak for.
func principalOf(req fosite.Requester) *fhir.Principal {
	p := &fhir.Principal{Client: req.GetClient().GetID(), Grant: req.GetID(),
		Scopes: scope.Permissions(req.GetGrantedScopes())}
	if s, ok := req.GetSession().(*Session); ok {
		p.Subject, p.FHIRUser, p.Roles = s.Subject, s.FHIRUser, s.Roles
		p.Patient, p.Encounter = s.Patient, s.Encounter
		p.ACR, p.AMR, p.AuthTime = s.ACR, s.AMR, s.AuthTime
	}
	return p
}

func (s *storage) deactivate(ctx context.Context, kind, key string) error {
	for range maxRetries {
		r, err := s.rec.GetRecord(ctx, kind, key)
		if errors.Is(err, fhir.ErrNotFound) {
			return fosite.ErrNotFound
		} else if err != nil {
			return err
		}
		var st stored
		if err := json.Unmarshal(r.Data, &st); err != nil {
			return err
		}
		if !st.Active {
			return fosite.ErrInactiveToken
		}
		st.Active = false
		if r.Data, err = json.Marshal(st); err != nil {
			return err
		}
		err = s.rec.PutRecord(ctx, r)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue
		}
		return err
	}
	return errBusy
}

func (s *storage) deleteKey(ctx context.Context, kind, key string) error {
	return s.rec.DeleteRecord(ctx, kind, key)
}

// deleteWhere removes every record of kind whose attribute name is value.
func (s *storage) deleteWhere(ctx context.Context, kind, name, value string) error {
	found, err := s.rec.FindRecords(ctx, kind, name, value)
	if err != nil {
		return err
	}
	for _, r := range found {
		if err := s.rec.DeleteRecord(ctx, kind, r.Key); err != nil {
			return err
		}
	}
	return nil
}

func expiry(req fosite.Requester, typ fosite.TokenType, fallback time.Duration, now time.Time) time.Time {
	if e := req.GetSession().GetExpiresAt(typ); !e.IsZero() {
		return e
	}
	return now.Add(fallback)
}

// Authorization codes.

func (s *storage) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.put(ctx, kindCode, code, req, expiry(req, fosite.AuthorizeCode, 10*time.Minute, s.now()), "")
}

func (s *storage) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, st, _, err := s.get(ctx, kindCode, code, session)
	if err != nil {
		return nil, err
	}
	if !st.Active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

func (s *storage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	err := s.deactivate(ctx, kindCode, code)
	if errors.Is(err, fosite.ErrInactiveToken) {
		// Two token requests raced with one code: only one may win.
		return fosite.ErrInvalidatedAuthorizeCode
	}
	return err
}

// PKCE and OpenID Connect requests, keyed by the code's signature.

func (s *storage) CreatePKCERequestSession(ctx context.Context, sig string, req fosite.Requester) error {
	return s.put(ctx, kindPKCE, sig, req, expiry(req, fosite.AuthorizeCode, 10*time.Minute, s.now()), "")
}

func (s *storage) GetPKCERequestSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, _, _, err := s.get(ctx, kindPKCE, sig, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

func (s *storage) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return s.deleteKey(ctx, kindPKCE, sig)
}

func (s *storage) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.put(ctx, kindOIDC, code, req, expiry(req, fosite.AuthorizeCode, 10*time.Minute, s.now()), "")
}

func (s *storage) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	got, _, _, err := s.get(ctx, kindOIDC, code, req.GetSession())
	if err != nil {
		return nil, err
	}
	return got, nil
}

func (s *storage) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.deleteKey(ctx, kindOIDC, code)
}

// Access and refresh tokens, keyed by signature, grouped by grant (the
// fosite request id).

func (s *storage) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	return s.put(ctx, kindAccess, sig, req, expiry(req, fosite.AccessToken, time.Hour, s.now()), "")
}

func (s *storage) GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, _, _, err := s.get(ctx, kindAccess, sig, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

func (s *storage) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.deleteKey(ctx, kindAccess, sig)
}

func (s *storage) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, req fosite.Requester) error {
	exp := req.GetSession().GetExpiresAt(fosite.RefreshToken)
	return s.put(ctx, kindRefresh, sig, req, exp, accessSig)
}

func (s *storage) GetRefreshTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, st, _, err := s.get(ctx, kindRefresh, sig, session)
	if err != nil {
		return nil, err
	}
	if !st.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

func (s *storage) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.deleteKey(ctx, kindRefresh, sig)
}

// RotateRefreshToken retires the refresh token just used and the access
// tokens of its grant. Two refreshes racing with one token: the record's
// revision lets only one through; the other sees an inactive token.
func (s *storage) RotateRefreshToken(ctx context.Context, grant, sig string) error {
	if err := s.deactivate(ctx, kindRefresh, sig); err != nil {
		if errors.Is(err, fosite.ErrInactiveToken) {
			return fosite.ErrSerializationFailure
		}
		return err
	}
	return s.deleteWhere(ctx, kindAccess, "grant", grant)
}

func (s *storage) RevokeRefreshToken(ctx context.Context, grant string) error {
	return s.deleteWhere(ctx, kindRefresh, "grant", grant)
}

func (s *storage) RevokeAccessToken(ctx context.Context, grant string) error {
	return s.deleteWhere(ctx, kindAccess, "grant", grant)
}

// Client assertions: a jti is remembered until its assertion expires.

func (s *storage) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	_, err := s.rec.GetRecord(ctx, kindJTI, jti)
	if errors.Is(err, fhir.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return fosite.ErrJTIKnown
}

func (s *storage) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.rec.PutRecord(ctx, &fhir.Record{Kind: kindJTI, Key: jti, Data: []byte("{}"), Expires: exp})
	if errors.Is(err, fhir.ErrVersionConflict) {
		return fosite.ErrJTIKnown
	}
	return err
}
