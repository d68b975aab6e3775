package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// Why a passkey sign-in failed, as the audit trail records it (the page
// says less).
const (
	passkeyNoCeremony = "passkey refused: no live ceremony (expired, used or from another browser)"
	passkeyMalformed  = "passkey refused: malformed answer"
	passkeyUnknown    = "passkey refused: unknown credential or user"
	passkeyInvalid    = "passkey refused: assertion not valid (signature, challenge, origin, RP ID or user verification)"
	passkeyCloned     = "passkey refused: sign count went backwards (possible cloned authenticator)"
	passkeyRaced      = "passkey refused: used twice at once"
)

// passkeyLoginOptions starts a usernameless sign-in: the browser asks the
// authenticator for any passkey of this site, the user picks one.
func (s *Server) passkeyLoginOptions(c echo.Context) error {
	if ok, err := s.jsonCall(c); !ok {
		return err
	}
	if limited, err := s.rateLimited(c); limited {
		return err
	}
	var body struct {
		Next  string `json:"next"`
		Trust bool   `json:"trust"` // the "Trust this device" box
	}
	_ = json.NewDecoder(c.Request().Body).Decode(&body) // no body: the default destination
	assertion, session, err := s.rp.BeginDiscoverableLogin()
	if err != nil {
		return err
	}
	if err := s.startCeremony(c, &ceremony{Purpose: ceremonyLogin, Session: *session, Next: safeNext(body.Next), Trust: body.Trust}); err != nil {
		if errors.Is(err, errNoCeremony) {
			return jsonError(c, http.StatusForbidden, "This page had expired. Reload it and try again.")
		}
		return err
	}
	return c.JSON(http.StatusOK, assertion)
}

// passkeyLogin finishes a passkey sign-in. A passkey used with user
// verification is phishing-resistant and multi-factor by itself
// (something the user has, unlocked by a fingerprint, face or PIN): the
// sign-in session starts at once, with acr phishing-resistant and amr
// hwk or swk and user.
func (s *Server) passkeyLogin(c echo.Context) error {
	if ok, err := s.jsonCall(c); !ok {
		return err
	}
	ctx := c.Request().Context()
	ev := SecurityEvent{Kind: SignIn}
	refuse := func(status int, why, message string) error {
		ev.Detail = why
		s.report(c, ev)
		return jsonError(c, status, message)
	}
	cer, err := s.takeCeremony(c, ceremonyLogin)
	if errors.Is(err, errNoCeremony) {
		return refuse(http.StatusBadRequest, passkeyNoCeremony, "This passkey request had expired. Try again.")
	} else if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(c.Request().Body)
	if err != nil {
		return refuse(http.StatusBadRequest, passkeyMalformed, "That passkey could not be used. Try again, or sign in with your password.")
	}
	// The credential names its account (the user handle); the account's
	// own passkeys must include it, and the account must be active.
	var acct *Account
	var keys []*Passkey
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		a, err := s.accounts.Get(ctx, string(userHandle))
		if err != nil {
			return nil, err
		}
		acct = a
		if a.Disabled {
			return nil, errors.New("account disabled")
		}
		if keys, err = s.passkeys.of(ctx, a.ID); err != nil {
			return nil, err
		}
		return userOf(a, keys), nil
	}
	_, cred, err := s.rp.ValidatePasskeyLogin(handler, cer.Session, parsed)
	if acct != nil {
		ev.Account, ev.Role = acct.ID, acct.Role
	}
	if err != nil {
		why := passkeyInvalid
		if acct == nil || acct.Disabled {
			why = passkeyUnknown
		}
		return refuse(http.StatusUnauthorized, why, "That passkey could not be used here. Try another passkey, or sign in with your password.")
	}
	var key *Passkey
	for _, k := range keys {
		if bytes.Equal(k.Credential.ID, cred.ID) {
			key = k
		}
	}
	if key == nil || !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return refuse(http.StatusUnauthorized, passkeyInvalid, "That passkey could not be used here. Try another passkey, or sign in with your password.")
	}
	if cred.Authenticator.CloneWarning {
		// Keep the warning: the passkey stays refused until its owner
		// removes it and makes a new one.
		if !key.Credential.Authenticator.CloneWarning {
			key.Credential.Authenticator.CloneWarning = true
			_ = s.passkeys.put(ctx, key)
		}
		s.report(c, SecurityEvent{Kind: FactorUsed, Account: acct.ID, Role: acct.Role, Detail: passkeyCloned})
		return refuse(http.StatusUnauthorized, passkeyCloned, "This passkey was refused because it may have been copied. Sign in another way, then remove it and add a new one.")
	}
	key.Credential = *cred
	key.LastUsed = s.now().UTC()
	if err := s.passkeys.put(ctx, key); errors.Is(err, fhir.ErrVersionConflict) {
		return refuse(http.StatusConflict, passkeyRaced, "That passkey could not be used. Try again.")
	} else if err != nil {
		return err
	}
	amr := key.AMR()
	ev.Success, ev.Detail = true, "passkey ("+strings.Join(amr, " ")+")"
	if err := s.reportOrFail(c, ev); err != nil {
		return jsonError(c, http.StatusServiceUnavailable, "Signing in is not possible right now. Please try again in a few minutes.")
	}
	// A password typed before is no longer waiting for its code.
	if ck, err := c.Cookie(pendingCookie); err == nil && ck.Value != "" {
		_ = s.cfg.Records.DeleteRecord(ctx, kindPending, hashKey(ck.Value))
		setCookie(c, pendingCookie, "", -1)
	}
	s.logins.end(c)
	if _, err := s.logins.start(c, acct.ID, amr, ACRPhishingResistant); err != nil {
		return err
	}
	if err := s.afterSecondFactor(c, acct, cer.Trust); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"next": safeNext(cer.Next)})
}
