package oauth

import (
	"context"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"
)

// SecurityEvents receives the authorization server's security events: the
// audit trail, wired by cmd/fhirserver. Implementations must be safe for
// concurrent use. Security returns an error when the event could not be
// recorded durably; what happens then depends on the event (see
// reportOrFail and report).
type SecurityEvents interface {
	Security(ctx context.Context, e SecurityEvent) error
}

// SecurityEvent is one security event. No field ever holds a password, a
// token, an authorization code, a launch id, or the username of a failed
// sign-in.
type SecurityEvent struct {
	Kind    string // one of the constants below
	Account string // account id ("" when unknown, e.g. a failed sign-in for an unknown name)
	Role    string // the account's role
	Client  string // client id
	Grant   string // fosite request id (fhir.Principal.Grant), never a token
	Patient string // patient id in context, when there is one
	Scopes  []string
	Key     string // signing key id (kid), for key events
	Success bool
	Detail  string // fixed text, never PHI, a password, a token or a code
	// RemoteAddr and RequestID are the HTTP request's (empty for the
	// command line).
	RemoteAddr, RequestID string
	Time                  time.Time
}

// Security event kinds: a closed set.
const (
	SignIn              = "sign-in"
	SignOut             = "sign-out"
	TokenIssued         = "token-issued"    // authorization_code and client_credentials
	TokenRefreshed      = "token-refreshed" // refresh_token
	TokenRevoked        = "token-revoked"
	IntrospectionFailed = "introspection-failed"
	ClientRegistered    = "client-registered"
	ClientRemoved       = "client-removed"
	UserDisabled        = "user-disabled"
	KeyRotated          = "key-rotated"
	KeyRetired          = "key-retired"
	LaunchCreated       = "launch-created"       // an EHR launch, made by a staff user for a patient
	AccessReportViewed  = "access-report-viewed" // a patient or caregiver read the record's access report
	FactorEnrolled      = "factor-enrolled"
	FactorUsed          = "factor-used" // a recovery code
	// EnrollmentLinkIssued: staff issued a one-time link to set up a
	// second factor (Account is the staff user; Detail names the account).
	EnrollmentLinkIssued = "enrollment-link-issued"
	MFADeferred          = "mfa-deferred"       // a user put off setting up a second factor
	DeviceTrusted        = "device-trusted"     // a user trusted this device for routine sign-ins
	DeviceRevoked        = "device-revoked"     // a trusted device was revoked
	RiskAssessed         = "risk-assessed"      // a sign-in's risk signals and the decision
	AccountLocked        = "account-locked"     // sign-in refused after too many failures
	AccountUnlocked      = "account-unlocked"   // that lock ended by an administrator or a recovery
	FactorRemoved        = "factor-removed"     // a passkey or authenticator removed
	FactorReset          = "factor-reset"       // staff removed a lost factor after checking who the user is
	ContactChanged       = "contact-changed"    // a phone number or email for codes and notices changed
	FallbackCodeSent     = "fallback-code-sent" // a sign-in code sent by text message or email
)

// fromRequest fills in what the HTTP request tells about an event.
func (s *Server) fromRequest(c echo.Context, e SecurityEvent) SecurityEvent {
	e.RemoteAddr = c.RealIP()
	e.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	e.Time = s.now().UTC()
	return e
}

// reportOrFail records an event whose request must not succeed without
// its record (a sign-in, a token): the caller answers with a server error
// when it returns an error. No access without its record.
func (s *Server) reportOrFail(c echo.Context, e SecurityEvent) error {
	if s.cfg.Events == nil {
		return nil
	}
	e = s.fromRequest(c, e)
	if err := s.cfg.Events.Security(c.Request().Context(), e); err != nil {
		s.log.Error("oauth: security event not recorded; request refused", "kind", e.Kind, "success", e.Success, "request_id", e.RequestID, "err", err)
		return err
	}
	return nil
}

// report records an event that grants nothing by itself (a refusal, a
// sign-out, a revocation, a launch): when it cannot be recorded, the
// failure is logged and the request goes on.
func (s *Server) report(c echo.Context, e SecurityEvent) {
	if s.cfg.Events == nil {
		return
	}
	e = s.fromRequest(c, e)
	if err := s.cfg.Events.Security(c.Request().Context(), e); err != nil {
		s.log.Error("oauth: security event not recorded", "kind", e.Kind, "success", e.Success, "request_id", e.RequestID, "err", err)
	}
}

// reportChange records a registry change (a client, an account, a key),
// already made: a failure is logged, not returned, since the change
// stands either way.
func reportChange(ctx context.Context, events SecurityEvents, log *slog.Logger, now func() time.Time, e SecurityEvent) {
	if events == nil {
		return
	}
	if now == nil {
		now = time.Now
	}
	e.Time = now().UTC()
	if err := events.Security(ctx, e); err != nil {
		if log == nil {
			log = slog.Default()
		}
		log.Error("oauth: security event not recorded", "kind", e.Kind, "err", err)
	}
}

// refusal is the Detail of a refused OAuth request: the RFC 6749 error
// code, one of a fixed set (never the hint, which may quote the request).
func refusal(err error) string {
	e := fosite.ErrorToRFC6749Error(err)
	if e.CodeField >= 500 {
		return "server error"
	}
	return "refused: " + e.ErrorField
}
