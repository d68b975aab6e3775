package oauth

import (
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is what a grant remembers about the user and the launch: it
// travels with every code, access token and refresh token of the grant.
type Session struct {
	openid.DefaultSession
	Account   string    `json:"account,omitempty"` // account id ("" for backend services)
	Roles     []string  `json:"roles,omitempty"`
	FHIRUser  string    `json:"fhirUser,omitempty"` // relative, e.g. Patient/123
	Patient   string    `json:"patient,omitempty"`
	Encounter string    `json:"encounter,omitempty"`
	Banner    bool      `json:"banner,omitempty"`
	ACR       string    `json:"acr,omitempty"`
	AMR       []string  `json:"amr,omitempty"`
	AuthTime  time.Time `json:"authTime,omitzero"`
	// Login is the login session the grant came from; an online_access
	// grant ends with it.
	Login string `json:"login,omitempty"`
	// Proxy is a caregiver's RelatedPerson ("RelatedPerson/ID"): their
	// access lasts only while it still links them to Patient.
	Proxy  string `json:"proxy,omitempty"`
	Issuer string `json:"iss,omitempty"`
	// loaded is the stored request the storage last loaded this session
	// from (its grant, scopes, and whether its code or refresh token was
	// used already), for the audit trail: fosite answers a reused code
	// with a plain invalid_grant and grants a code's scopes only while
	// issuing its tokens.
	loaded *stored
}

func newSession() *Session {
	return &Session{DefaultSession: openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{},
		Headers: &jwt.Headers{},
	}}
}

// Clone deep-copies the session (fosite clones it at refresh).
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if d, ok := s.DefaultSession.Clone().(*openid.DefaultSession); ok && d != nil {
		c.DefaultSession = *d
	}
	c.Roles = append([]string(nil), s.Roles...)
	c.AMR = append([]string(nil), s.AMR...)
	return &c
}

// GetExtraClaims is what introspection adds to its answer: the SMART
// launch context and how the user authenticated.
func (s *Session) GetExtraClaims() map[string]any {
	m := map[string]any{}
	if s.Issuer != "" {
		m["iss"] = s.Issuer
	}
	if s.Patient != "" {
		m["patient"] = s.Patient
	}
	if s.Encounter != "" {
		m["encounter"] = s.Encounter
	}
	if s.FHIRUser != "" {
		m["fhirUser"] = s.FHIRUser
	}
	if s.ACR != "" {
		m["acr"] = s.ACR
	}
	if len(s.AMR) > 0 {
		m["amr"] = s.AMR
	}
	if !s.AuthTime.IsZero() {
		m["auth_time"] = s.AuthTime.Unix()
	}
	return m
}
