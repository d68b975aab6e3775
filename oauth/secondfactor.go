package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
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
}

// maxCodeFails wrong codes end a pending sign-in: the password must be
// given again (and counts toward its own throttling), so a code cannot
// be guessed through one right password.
const maxCodeFails = 5

// askCode shows the authenticator-code page after a right password, or
// in a signed-in session (login, its key) that needs a second factor.
func (s *Server) askCode(c echo.Context, acct *Account, next, login string) error {
	value := randomToken(32)
	data, err := json.Marshal(pendingLogin{Account: acct.ID, Next: next, Login: login})
	if err != nil {
		return err
	}
	if err := s.cfg.Records.PutRecord(c.Request().Context(), &fhir.Record{Kind: kindPending, Key: hashKey(value), Data: data,
		Expires: s.now().Add(pendingLife)}); err != nil {
		return err
	}
	setCookie(c, pendingCookie, value, int(pendingLife/time.Second))
	return s.page(c, http.StatusOK, "code", pageData{Title: "Enter your code"})
}

// codePost checks the authenticator code; a right one starts the
// sign-in session with both factors.
func (s *Server) codePost(c echo.Context) error {
	ctx := c.Request().Context()
	ck, err := c.Cookie(pendingCookie)
	if !s.checkCSRF(c) || err != nil || ck.Value == "" {
		return s.page(c, http.StatusBadRequest, "login", pageData{Title: "Sign in", Next: "/oauth/signed-in",
			Error: "This page had expired. Please sign in again."})
	}
	key := hashKey(ck.Value)
	r, err := s.cfg.Records.GetRecord(ctx, kindPending, key)
	if errors.Is(err, fhir.ErrNotFound) {
		return s.page(c, http.StatusBadRequest, "login", pageData{Title: "Sign in", Next: "/oauth/signed-in",
			Error: "This page had expired. Please sign in again."})
	} else if err != nil {
		return err
	}
	var p pendingLogin
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return err
	}
	if p.Login != "" && !s.logins.alive(ctx, p.Login) {
		return s.page(c, http.StatusBadRequest, "login", pageData{Title: "Sign in", Next: safeNext(p.Next),
			Error: "This page had expired. Please sign in again."})
	}
	acct, err := s.accounts.Get(ctx, p.Account)
	if err != nil {
		return err
	}
	ev := SecurityEvent{Kind: SignIn, Account: acct.ID, Role: acct.Role}
	// left: recovery codes left, when one was used (-1 otherwise).
	left, err := s.checkCode(c, acct, c.FormValue("code"))
	if errors.Is(err, ErrThrottled) {
		s.report(c, SecurityEvent{Kind: SignIn, Account: acct.ID, Role: acct.Role, Detail: failThrottled})
		return s.page(c, http.StatusTooManyRequests, "code", pageData{Title: "Enter your code: please wait",
			Error: "There have been several codes that were not right. Wait a few minutes, then try again."})
	}
	if err != nil {
		if !errors.Is(err, ErrBadCode) {
			return err
		}
		ev.Detail = "wrong authenticator code"
		s.report(c, ev)
		p.Fails++
		if p.Fails >= maxCodeFails {
			_ = s.cfg.Records.DeleteRecord(ctx, kindPending, key)
			setCookie(c, pendingCookie, "", -1)
			if p.Login != "" {
				s.logins.end(c)
				_ = s.cfg.Records.DeleteRecord(ctx, kindLogin, p.Login)
			}
			return s.page(c, http.StatusUnauthorized, "login", pageData{Title: "Sign in again", Next: safeNext(p.Next),
				Error: "Too many codes were not right. Sign in again with your password."})
		}
		if r.Data, err = json.Marshal(p); err != nil {
			return err
		}
		if err := s.cfg.Records.PutRecord(ctx, r); err != nil {
			return err // a racing attempt: refuse this one
		}
		return s.page(c, http.StatusUnauthorized, "code", pageData{Title: "Enter your code: try again",
			Error: "That code is not right. Codes change every 30 seconds; enter the one your app shows now."})
	}
	ev.Success, ev.Detail = true, "password and authenticator code"
	if left >= 0 {
		ev.Detail = "password and recovery code"
	}
	if err := s.reportOrFail(c, ev); err != nil {
		return s.unavailable(c)
	}
	_ = s.cfg.Records.DeleteRecord(ctx, kindPending, key)
	setCookie(c, pendingCookie, "", -1)
	s.logins.end(c)
	if _, err := s.logins.start(c, acct.ID, []string{"pwd", "otp"}, ACRTwoFactor); err != nil {
		return err
	}
	if err := s.afterSecondFactor(c, acct, c.FormValue("trust") == "1"); err != nil {
		return err
	}
	if left >= 0 {
		// Tell the user at once, and offer new codes.
		s.report(c, SecurityEvent{Kind: FactorUsed, Account: acct.ID, Role: acct.Role, Success: true, Detail: "recovery code"})
		return s.page(c, http.StatusOK, "recovery", pageData{Title: "You used a recovery code", Next: safeNext(p.Next), Left: left})
	}
	return c.Redirect(http.StatusSeeOther, safeNext(p.Next))
}

// newCodes makes a signed-in user new recovery codes (the old ones stop
// working) and shows them once.
func (s *Server) newCodes(c echo.Context) error {
	if !s.checkCSRF(c) {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This form has expired"})
	}
	ctx := c.Request().Context()
	login, err := s.logins.current(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login")
	}
	acct, err := s.accounts.Get(ctx, login.Account)
	if err != nil || acct.Disabled {
		return c.Redirect(http.StatusSeeOther, "/oauth/login")
	}
	codes, err := s.accounts.NewRecoveryCodes(ctx, acct.Username)
	if err != nil {
		return err
	}
	s.report(c, SecurityEvent{Kind: FactorEnrolled, Account: acct.ID, Role: acct.Role, Success: true, Detail: "recovery codes"})
	return s.page(c, http.StatusOK, "recovery", pageData{Title: "Your new recovery codes", Next: safeNext(c.FormValue("next")), Codes: codes})
}
