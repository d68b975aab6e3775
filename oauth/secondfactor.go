package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	kindPending   = "login.pending"
	pendingCookie = "oncofhir_2fa"
	pendingLife   = 5 * time.Minute
)

// pendingLogin is a sign-in whose password was right and whose second
// factor is still to come: kept server side, found by the hash of a
// cookie's random value, good for five minutes.
type pendingLogin struct {
	Account string `json:"account"`
	Next    string `json:"next"`
	Fails   int    `json:"fails,omitempty"`
	// Login is the sign-in session this code would complete (a session
	// with a password alone, or a trusted device's, asked for a second
	// factor); "" after a password just typed. Too many wrong codes end
	// it, so codes cannot be guessed through one session.
	Login string `json:"login,omitempty"`
	// Signals are the risk signals the password's sign-in raised
	// (risk.go), and Trusted whether the browser's trusted device was
	// refused for them. A sign-in with signals is asked for the
	// strongest factor the account has: never a code by text or email.
	Signals []string `json:"signals,omitempty"`
	Trusted bool     `json:"trusted,omitempty"`
	// PasskeyAsked: the sign-in was sent to sign in with the account's
	// passkey (its signals, and an account with a passkey and a code).
	// Its only way on without the passkey is a recovery code: the
	// authenticator app's code would let a stolen password and a
	// phished code past the passkey, where a recovery code is spent,
	// audited and told to the owner.
	PasskeyAsked bool `json:"passkeyAsked,omitempty"`
}

// risky tells whether the sign-in raised risk signals.
func (p pendingLogin) risky() bool { return len(p.Signals) > 0 }

// recoveryCodeLen is a recovery code's length without its dashes.
const recoveryCodeLen = 16

// maxCodeFails wrong codes end a pending sign-in: the password must be
// given again (and counts toward its own throttling), so a code cannot
// be guessed through one right password.
const maxCodeFails = 5

// askCode shows the authenticator-code page after a right password, or
// in a signed-in session (login, its key) that needs a second factor.
func (s *Server) askCode(c echo.Context, acct *Account, next, login string) error {
	p := pendingLogin{Account: acct.ID, Next: next, Login: login}
	if err := s.putPending(c, p); err != nil {
		return err
	}
	return s.codePage(c, http.StatusOK, acct, p, pageData{Title: "Enter your code"})
}

// putPending keeps a new pending sign-in and gives the browser its
// cookie.
func (s *Server) putPending(c echo.Context, p pendingLogin) error {
	value := randomToken(32)
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := s.cfg.Records.PutRecord(c.Request().Context(), &fhir.Record{Kind: kindPending, Key: hashKey(value), Data: data,
		Expires: s.now().Add(pendingLife)}); err != nil {
		return err
	}
	setCookie(c, pendingCookie, value, int(pendingLife/time.Second))
	return nil
}

// codePage shows the code page, with the fallback codes the pending
// sign-in may ask for; a sign-in asked for a passkey gets the page that
// takes a recovery code only.
func (s *Server) codePage(c echo.Context, status int, acct *Account, p pendingLogin, d pageData) error {
	d.Fallbacks = s.fallbackChoices(acct, p)
	d.RecoveryOnly = p.PasskeyAsked
	if p.PasskeyAsked && strings.HasPrefix(d.Title, "Enter your code") {
		d.Title = "Enter a recovery code" + strings.TrimPrefix(d.Title, "Enter your code")
	}
	return s.page(c, status, "code", d)
}

// pending returns the browser's pending sign-in and its record, or
// answers (the sign-in page again) when there is none, it expired, or
// the form's CSRF token is not right.
func (s *Server) pending(c echo.Context) (pendingLogin, *fhir.Record, bool, error) {
	var p pendingLogin
	ctx := c.Request().Context()
	expired := func(next string) (pendingLogin, *fhir.Record, bool, error) {
		return p, nil, true, s.page(c, http.StatusBadRequest, "login", pageData{Title: "Sign in", Next: next,
			Error: "This page had expired. Please sign in again."})
	}
	ck, err := c.Cookie(pendingCookie)
	if !s.checkCSRF(c) || err != nil || ck.Value == "" {
		return expired("/oauth/signed-in")
	}
	r, err := s.cfg.Records.GetRecord(ctx, kindPending, hashKey(ck.Value))
	if errors.Is(err, fhir.ErrNotFound) {
		return expired("/oauth/signed-in")
	} else if err != nil {
		return p, nil, true, err
	}
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return p, nil, true, err
	}
	if p.Login != "" && !s.logins.alive(ctx, p.Login) {
		return expired(safeNext(p.Next))
	}
	return p, r, false, nil
}

// passkeyPending tells whether the browser holds a live pending sign-in
// that risk signals sent to sign in with a passkey (the sign-in page
// then offers a recovery code instead).
func (s *Server) passkeyPending(c echo.Context) bool {
	ck, err := c.Cookie(pendingCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	r, err := s.cfg.Records.GetRecord(c.Request().Context(), kindPending, hashKey(ck.Value))
	if err != nil {
		return false
	}
	var p pendingLogin
	return json.Unmarshal(r.Data, &p) == nil && p.PasskeyAsked
}

// recoveryInsteadPost answers "I can't use my passkey" on the sign-in
// page that risk signals asked for a passkey: the same pending sign-in
// goes on to the code page, which takes a recovery code only.
func (s *Server) recoveryInsteadPost(c echo.Context) error {
	p, _, answered, err := s.pending(c)
	if answered {
		return err
	}
	acct, err := s.accounts.Get(c.Request().Context(), p.Account)
	if err != nil {
		return err
	}
	if p.PasskeyAsked { // otherwise the code page it already was
		s.report(c, SecurityEvent{Kind: RiskAssessed, Account: acct.ID, Role: acct.Role, Success: true,
			Detail: riskDetail(p.Signals, p.Trusted, askPasskey) + "; passkey not available; recovery code asked"})
	}
	return s.codePage(c, http.StatusOK, acct, p, pageData{Title: "Enter your code"})
}

// codePost checks the code typed: the authenticator app's, a recovery
// code, or a fallback code sent by text message or email. A right one
// starts the sign-in session with both factors.
func (s *Server) codePost(c echo.Context) error {
	ctx := c.Request().Context()
	p, r, answered, err := s.pending(c)
	if answered {
		return err
	}
	key := r.Key
	acct, err := s.accounts.Get(ctx, p.Account)
	if err != nil {
		return err
	}
	ev := SecurityEvent{Kind: SignIn, Account: acct.ID, Role: acct.Role}
	typed := c.FormValue("code")
	// Every code posted counts toward the pending sign-in's limit before
	// it is checked (throttle.go).
	use, err := codeUse{left: -1}, s.countCode(ctx, r, &p)
	if errors.Is(err, ErrBadCode) {
		// Past the limit, read before another code ended the sign-in:
		// the code is not checked, and the audit trail says so.
		return s.wrongCode(c, acct, p, r, "code not checked: too many on this sign-in", "")
	}
	if err == nil && p.PasskeyAsked && len(normalizeCode(typed)) != recoveryCodeLen {
		// Asked for the passkey: only a recovery code stands in for it
		// (not checked otherwise, so nothing is learnt of the app's code).
		return s.wrongCode(c, acct, p, r, "not a recovery code where the passkey was asked",
			"That is not a recovery code. A recovery code has 16 letters and digits, in four groups of four.")
	}
	if err == nil {
		// A fallback code is accepted only where the page offers one.
		use, err = s.checkCode(c, acct, typed, s.fallbackAllowed(p))
	}
	left := use.left // recovery codes left, when one was used (-1 otherwise)
	if errors.Is(err, ErrThrottled) {
		s.report(c, SecurityEvent{Kind: SignIn, Account: acct.ID, Role: acct.Role, Detail: failThrottled})
		return s.codePage(c, http.StatusTooManyRequests, acct, p, pageData{Title: "Enter your code: please wait",
			Error: "There have been several codes that were not right. Wait a few minutes, then try again."})
	}
	if err != nil {
		if !errors.Is(err, ErrBadCode) {
			return err
		}
		msg := "That code is not right. Codes change every 30 seconds; enter the one your app shows now."
		if p.PasskeyAsked {
			msg = "That recovery code is not right, or it was used before. Check it and try again."
		}
		return s.wrongCode(c, acct, p, r, "wrong authenticator code", msg)
	}
	ev.Success, ev.Detail = true, "password and authenticator code"
	amr := []string{"pwd", "otp"}
	if left >= 0 {
		ev.Detail = "password and recovery code"
	}
	if p.PasskeyAsked {
		// The decision changed: the recovery code stood in for the
		// passkey the signals asked for.
		if err := s.reportOrFail(c, SecurityEvent{Kind: RiskAssessed, Account: acct.ID, Role: acct.Role, Success: true,
			Detail: riskDetail(p.Signals, p.Trusted, askPasskey) + "; recovery code used instead"}); err != nil {
			return s.unavailable(c)
		}
	}
	if use.via != "" {
		// A routine sign-in only: never strong (fallback.go).
		ev.Detail, amr = "password and a code sent by "+destination{Channel: use.via}.how(), []string{"pwd", amrOf(use.via)}
	}
	if err := s.reportOrFail(c, ev); err != nil {
		return s.unavailable(c)
	}
	_ = s.cfg.Records.DeleteRecord(ctx, kindPending, key)
	setCookie(c, pendingCookie, "", -1)
	s.logins.end(c)
	if _, err := s.logins.start(c, acct.ID, amr, ACRTwoFactor); err != nil {
		return err
	}
	if err := s.afterSecondFactor(c, acct, c.FormValue("trust") == "1" && use.via == ""); err != nil { // a code by text or email trusts no device
		return err
	}
	if left >= 0 {
		// Tell the user at once, here and at their phone and email, and
		// offer new codes.
		s.report(c, SecurityEvent{Kind: FactorUsed, Account: acct.ID, Role: acct.Role, Success: true, Detail: "recovery code"})
		s.accounts.notify(ctx, acct, FactorUsed, NoticeRecoveryCode)
		return s.page(c, http.StatusOK, "recovery", pageData{Title: "You used a recovery code", Next: safeNext(p.Next), Left: left})
	}
	return c.Redirect(http.StatusSeeOther, safeNext(p.Next))
}

// wrongCode answers a code that was not right: the audit event (detail,
// a fixed text), the end of the pending sign-in at maxCodeFails (its
// failures counted by countCode), else the page again with msg.
func (s *Server) wrongCode(c echo.Context, acct *Account, p pendingLogin, r *fhir.Record, detail, msg string) error {
	ctx := c.Request().Context()
	s.report(c, SecurityEvent{Kind: SignIn, Account: acct.ID, Role: acct.Role, Detail: detail})
	if p.Fails >= maxCodeFails {
		_ = s.cfg.Records.DeleteRecord(ctx, kindPending, r.Key)
		setCookie(c, pendingCookie, "", -1)
		if p.Login != "" {
			s.logins.end(c)
			_ = s.cfg.Records.DeleteRecord(ctx, kindLogin, p.Login)
		}
		return s.page(c, http.StatusUnauthorized, "login", pageData{Title: "Sign in again", Next: safeNext(p.Next),
			Error: "Too many codes were not right. Sign in again with your password."})
	}
	return s.codePage(c, http.StatusUnauthorized, acct, p, pageData{Title: "Enter your code: try again", Error: msg})
}

// newCodes makes a signed-in user new recovery codes (the old ones stop
// working) and shows them once: only in a fresh sign-in with a strong
// second factor (mayChangeFactors). The account's other sessions and
// tokens end, and its owner is told.
func (s *Server) newCodes(c echo.Context) error {
	if !s.checkCSRF(c) {
		return s.formExpired(c)
	}
	ctx := c.Request().Context()
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login")
	}
	next := safeNext(c.FormValue("next"))
	if ok, err := s.mayChangeFactors(ctx, login, acct); err != nil {
		return err
	} else if !ok {
		return s.refuseFactorChange(c, acct, next)
	}
	codes, err := s.accounts.NewRecoveryCodes(ctx, acct.Username)
	if err != nil {
		return err
	}
	ev := SecurityEvent{Kind: FactorEnrolled, Account: acct.ID, Role: acct.Role, Success: true,
		Detail: "recovery codes renewed; the account's other sessions and tokens ended"}
	if err := s.endOtherAccess(ctx, acct.ID, login.key); err != nil {
		ev.Detail = "recovery codes renewed; ending the other sessions and tokens failed"
		s.report(c, ev)
		return err
	}
	s.report(c, ev)
	s.accounts.notify(ctx, acct, FactorEnrolled, NoticeRecoveryCodes)
	return s.page(c, http.StatusOK, "recovery", pageData{Title: "Your new recovery codes", Next: next, Codes: codes})
}
