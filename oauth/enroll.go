package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/oncofhir/oncofhir/fhir"
)

// Enrollment: an account without a second factor is taken, at sign-in,
// to set one up: an authenticator app (its secret and otpauth:// URI
// shown as text, confirmed by one code) or a passkey. It may put this off
// Config.MFADeferrals times (each counted on the account and audited);
// until it enrolls, its session is a password alone, which reaches the
// account pages but never a user token. Staff at check-in may issue a
// one-time link (EnrollLinks) that lets the patient set up a factor
// without their password, once, for an account with none (a lost
// factor is replaced through a staff reset, reset.go).

const (
	kindEnrollPending = "enroll.pending"
	kindEnrollLink    = "enroll.link"
	enrollCookie      = "oncofhir_enroll"
	enrollLife        = 10 * time.Minute
	enrollPath        = "/oauth/enroll"
	// DefaultEnrollLinkLife is how long a staff-issued enrollment link
	// stays good.
	DefaultEnrollLinkLife = 15 * time.Minute
)

// enrollment is a TOTP enrollment in progress, kept server side and
// found by the hash of a cookie's random value: the secret shown, and
// what allowed it (a signed-in session, or a staff-issued link).
type enrollment struct {
	Account string `json:"account"`
	Secret  string `json:"secret"`
	Next    string `json:"next"`
	Login   string `json:"login,omitempty"` // the sign-in session's key
	Link    string `json:"link,omitempty"`  // the link's key (hash)
	Fails   int    `json:"fails,omitempty"`
}

// enrollLink is a staff-issued enrollment link, kept by the hash of its
// token.
type enrollLink struct {
	Account  string    `json:"account"`
	IssuedBy string    `json:"issuedBy,omitempty"` // staff account id ("" from the command line)
	Expires  time.Time `json:"expires"`
	Used     bool      `json:"used,omitempty"`
}

// EnrollLinks issues staff-assisted enrollment links.
type EnrollLinks struct {
	Records fhir.Records
	Now     func() time.Time
	Events  SecurityEvents
}

// EnrollStaffRoles may issue enrollment links.
var EnrollStaffRoles = []string{"front-desk", "nurse", "admin"}

// Issue makes a one-time enrollment link token for an account with no
// second factor at all (ErrLinkHasFactor otherwise), good for life
// (DefaultEnrollLinkLife when zero), kept hashed; by is the staff
// account issuing it ("" from the command line). The token is shown
// once: the caller builds the URL (EnrollURL). IssueFor checks who may
// issue it first.
func (el EnrollLinks) Issue(ctx context.Context, acct *Account, by string, life time.Duration) (string, error) {
	if life <= 0 {
		life = DefaultEnrollLinkLife
	}
	if life > 24*time.Hour {
		return "", errors.New("an enrollment link lasts at most 24 hours")
	}
	if acct.Disabled {
		return "", errors.New("the account is disabled")
	}
	// A link sets up a first factor, never replaces one: an account
	// that has any goes through a staff reset (identity checked).
	if has, err := hasAnyFactor(ctx, el.Records, acct); err != nil {
		return "", err
	} else if has {
		return "", ErrLinkHasFactor
	}
	token := randomToken(24)
	exp := el.Now().UTC().Add(life)
	data, err := json.Marshal(enrollLink{Account: acct.ID, IssuedBy: by, Expires: exp})
	if err != nil {
		return "", err
	}
	if err := el.Records.PutRecord(ctx, &fhir.Record{Kind: kindEnrollLink, Key: hashKey(token), Data: data, Expires: exp,
		Attrs: map[string]string{"account": acct.ID}}); err != nil {
		return "", err
	}
	return token, nil
}

// EnrollURL is the address of an enrollment link on a server whose root
// (scheme://host[:port]) is root.
func EnrollURL(root, token string) string {
	return strings.TrimRight(root, "/") + enrollPath + "?link=" + url.QueryEscape(token)
}

// takeLink finds a live, unused link by its token, and marks it used
// when use is set (only one of two racing uses wins).
func (s *Server) takeLink(ctx context.Context, key string, use bool) (*enrollLink, error) {
	r, err := s.cfg.Records.GetRecord(ctx, kindEnrollLink, key)
	if err != nil {
		return nil, err
	}
	var l enrollLink
	if err := json.Unmarshal(r.Data, &l); err != nil {
		return nil, err
	}
	if l.Used || !s.now().Before(l.Expires) {
		return nil, fhir.ErrNotFound
	}
	if use {
		l.Used = true
		if r.Data, err = json.Marshal(l); err != nil {
			return nil, err
		}
		if err := s.cfg.Records.PutRecord(ctx, r); err != nil {
			if errors.Is(err, fhir.ErrVersionConflict) {
				return nil, fhir.ErrNotFound
			}
			return nil, err
		}
	}
	return &l, nil
}

// toEnroll sends a signed-in user to set up a second factor.
func (s *Server) toEnroll(c echo.Context, next string) error {
	return c.Redirect(http.StatusSeeOther, enrollPath+"?next="+url.QueryEscape(safeNext(next)))
}

// mayDefer tells whether the account may still put enrollment off.
func (s *Server) mayDefer(acct *Account) bool {
	return acct.Deferrals < s.cfg.MFADeferrals
}

// enrollPage starts an authenticator-app enrollment: for a signed-in
// user without a second factor, or through a staff-issued link.
func (s *Server) enrollPage(c echo.Context) error {
	ctx := c.Request().Context()
	e := enrollment{Next: safeNext(c.QueryParam("next"))}
	var acct *Account
	if tok := c.QueryParam("link"); tok != "" {
		l, err := s.takeLink(ctx, hashKey(tok), false)
		if errors.Is(err, fhir.ErrNotFound) {
			return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This set-up link does not work",
				Message: "It may have been used already or be more than 15 minutes old. Ask the front desk or your nurse for a new one."})
		} else if err != nil {
			return err
		}
		if acct, err = s.accounts.Get(ctx, l.Account); err != nil || acct.Disabled {
			return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This set-up link does not work",
				Message: "Ask the front desk or your nurse for a new one."})
		}
		if has, err := s.hasFactor(ctx, acct); err != nil {
			return err
		} else if has {
			return s.linkForAccountWithFactor(c)
		}
		e.Link, e.Next = hashKey(tok), "/oauth/login?next=%2Foauth%2Fsigned-in"
	} else {
		login, a, err := s.signedInAccount(c)
		if err != nil {
			return err
		}
		if login == nil {
			return c.Redirect(http.StatusSeeOther, "/oauth/login?next="+url.QueryEscape(enrollPath))
		}
		// Only an account with no factor at all sets up its first here:
		// one with a passkey is not sent here, nor let in.
		if has, err := s.hasFactor(ctx, a); err != nil {
			return err
		} else if has {
			return c.Redirect(http.StatusSeeOther, e.Next)
		}
		if ok, err := s.mayChangeFactors(ctx, login, a); err != nil {
			return err
		} else if !ok {
			return s.refuseFactorChange(c, a, enrollPath)
		}
		acct, e.Login = a, login.key
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "oncofhir", AccountName: acct.Username,
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return err
	}
	e.Account, e.Secret = acct.ID, key.Secret()
	value := randomToken(32)
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := s.cfg.Records.PutRecord(ctx, &fhir.Record{Kind: kindEnrollPending, Key: hashKey(value), Data: data,
		Expires: s.now().Add(enrollLife)}); err != nil {
		return err
	}
	setCookie(c, enrollCookie, value, int(enrollLife/time.Second))
	return s.showEnroll(c, http.StatusOK, acct, &e, pageData{})
}

func (s *Server) showEnroll(c echo.Context, status int, acct *Account, e *enrollment, d pageData) error {
	d.Title = "Set up a second way to sign in"
	if d.Error != "" {
		d.Title = "Set up a second way to sign in: please check"
	}
	d.Secret = groupSecret(e.Secret)
	d.OTPURI = (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/oncofhir:" + acct.Username,
		RawQuery: url.Values{"secret": {e.Secret}, "issuer": {"oncofhir"}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}.Encode()}).String()
	d.Next = e.Next
	d.ViaLink = e.Link != ""
	d.PasskeysOn = s.rp != nil && e.Login != ""
	d.CanDefer = e.Login != "" && s.mayDefer(acct)
	d.DeferralsLeft = s.cfg.MFADeferrals - acct.Deferrals
	return s.page(c, status, "enroll", d)
}

// groupSecret writes a base32 secret in groups of four, easier to type.
func groupSecret(secret string) string {
	var b strings.Builder
	for i, r := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// enrollPost confirms the authenticator app with one code, or puts
// enrollment off.
func (s *Server) enrollPost(c echo.Context) error {
	ctx := c.Request().Context()
	ck, err := c.Cookie(enrollCookie)
	if !s.checkCSRF(c) || err != nil || ck.Value == "" {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This page had expired", Message: "Sign in again to set up your second factor."})
	}
	key := hashKey(ck.Value)
	r, err := s.cfg.Records.GetRecord(ctx, kindEnrollPending, key)
	if errors.Is(err, fhir.ErrNotFound) {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This page had expired", Message: "Sign in again to set up your second factor."})
	} else if err != nil {
		return err
	}
	var e enrollment
	if err := json.Unmarshal(r.Data, &e); err != nil {
		return err
	}
	acct, err := s.accounts.Get(ctx, e.Account)
	if err != nil {
		return err
	}
	// What allowed the enrollment must still hold.
	var login *Login
	if e.Login != "" {
		if login, _, err = s.signedInAccount(c); err != nil {
			return err
		}
		if login == nil || login.key != e.Login || acct.Disabled {
			return s.page(c, http.StatusBadRequest, "error", pageData{Title: "You are signed out", Message: "Sign in again to set up your second factor."})
		}
		if ok, err := s.mayChangeFactors(ctx, login, acct); err != nil {
			return err
		} else if !ok {
			return s.refuseFactorChange(c, acct, enrollPath)
		}
		if has, err := s.hasFactor(ctx, acct); err != nil {
			return err
		} else if has {
			_ = s.cfg.Records.DeleteRecord(ctx, kindEnrollPending, key)
			setCookie(c, enrollCookie, "", -1)
			return s.page(c, http.StatusConflict, "error", pageData{Title: "Your account already has a second way to sign in",
				Message: "Add or change one on your account pages, after signing in with it."})
		}
	} else if _, err := s.takeLink(ctx, e.Link, false); err != nil || acct.Disabled {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This set-up link does not work",
			Message: "It may have been used already or be more than 15 minutes old. Ask the front desk or your nurse for a new one."})
	} else if has, err := s.hasFactor(ctx, acct); err != nil {
		return err
	} else if has {
		_ = s.cfg.Records.DeleteRecord(ctx, kindEnrollPending, key)
		setCookie(c, enrollCookie, "", -1)
		return s.linkForAccountWithFactor(c)
	}
	if c.FormValue("action") == "defer" {
		return s.deferEnrollment(c, acct, login, &e, key)
	}
	step := totpStep(e.Secret, c.FormValue("code"), s.now())
	if step < 0 {
		s.report(c, SecurityEvent{Kind: FactorEnrolled, Account: acct.ID, Role: acct.Role, Detail: "authenticator app not confirmed: wrong code"})
		e.Fails++
		if e.Fails >= maxCodeFails {
			_ = s.cfg.Records.DeleteRecord(ctx, kindEnrollPending, key)
			setCookie(c, enrollCookie, "", -1)
			return s.page(c, http.StatusUnauthorized, "error", pageData{Title: "Too many codes were not right",
				Message: "Start again: sign in, or open your set-up link again, and add the new secret to your app."})
		}
		if r.Data, err = json.Marshal(e); err != nil {
			return err
		}
		if err := s.cfg.Records.PutRecord(ctx, r); err != nil {
			return err
		}
		return s.showEnroll(c, http.StatusUnauthorized, acct, &e, pageData{ErrorFor: "code",
			Error: "That code is not right. Check that the app shows this portal, then type the 6-digit code it shows now."})
	}
	if e.Link != "" {
		if _, err := s.takeLink(ctx, e.Link, true); err != nil {
			return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This set-up link does not work",
				Message: "It was used already. Ask the front desk or your nurse for a new one."})
		}
	}
	_ = s.cfg.Records.DeleteRecord(ctx, kindEnrollPending, key)
	setCookie(c, enrollCookie, "", -1)
	// A factor change ends every session and token of the account,
	// this browser's too.
	if err := s.accounts.SetTOTP(ctx, acct.Username, e.Secret, step); err != nil {
		return err
	}
	how := "authenticator app added at sign-in; the account's sessions and tokens ended"
	if e.Link != "" {
		how = "authenticator app added through a staff enrollment link; the account's sessions and tokens ended"
	}
	s.report(c, SecurityEvent{Kind: FactorEnrolled, Account: acct.ID, Role: acct.Role, Success: true, Detail: how})
	s.accounts.notify(ctx, acct, FactorEnrolled, NoticeTOTP)
	codes, err := s.accounts.NewRecoveryCodes(ctx, acct.Username)
	if err != nil {
		return err
	}
	s.report(c, SecurityEvent{Kind: FactorEnrolled, Account: acct.ID, Role: acct.Role, Success: true, Detail: "recovery codes"})
	next := e.Next
	if login != nil {
		// The password (this session) and the code just typed: two factors.
		s.logins.end(c)
		if _, err := s.logins.start(c, acct.ID, []string{"pwd", "otp"}, ACRTwoFactor); err != nil {
			return err
		}
	} else {
		setCookie(c, loginCookie, "", -1)
		next = "/oauth/login?next=%2Foauth%2Fsigned-in"
	}
	return s.page(c, http.StatusOK, "recovery", pageData{Title: "Your authenticator app is set up", Next: next, Codes: codes,
		Notice: "Your authenticator app is set up. From now on, sign in with your password and the code it shows."})
}

// deferEnrollment puts enrollment off once, while the account has
// deferrals left: counted on the account and audited.
func (s *Server) deferEnrollment(c echo.Context, acct *Account, login *Login, e *enrollment, key string) error {
	ctx := c.Request().Context()
	if login == nil || !s.mayDefer(acct) {
		return s.showEnroll(c, http.StatusForbidden, acct, e, pageData{Error: "Setting up a second way to sign in cannot wait any longer."})
	}
	n, err := s.accounts.countDeferral(ctx, acct.ID, s.cfg.MFADeferrals)
	if errors.Is(err, errNoDeferral) {
		return s.showEnroll(c, http.StatusForbidden, acct, e, pageData{Error: "Setting up a second way to sign in cannot wait any longer."})
	} else if err != nil {
		return err
	}
	s.report(c, SecurityEvent{Kind: MFADeferred, Account: acct.ID, Role: acct.Role, Success: true,
		Detail: fmt.Sprintf("second factor put off (%d of %d)", n, s.cfg.MFADeferrals)})
	_ = s.cfg.Records.DeleteRecord(ctx, kindEnrollPending, key)
	setCookie(c, enrollCookie, "", -1)
	if err := s.logins.markDeferred(ctx, login); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/oauth/signed-in")
}

var errNoDeferral = errors.New("oauth: no deferral left")

// countDeferral counts one more deferral on the account, if it has one
// left, and returns the count.
func (as Accounts) countDeferral(ctx context.Context, id string, allowed int) (int, error) {
	for range maxRetries {
		a, err := as.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		if a.Deferrals >= allowed {
			return 0, errNoDeferral
		}
		a.Deferrals++
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue
		}
		return a.Deferrals, err
	}
	return 0, errBusy
}

// SetTOTP gives an account a confirmed authenticator-app secret, its
// confirming step already used, and ends its sessions and tokens.
func (as Accounts) SetTOTP(ctx context.Context, username, secret string, step int64) error {
	_, err := as.changeAndRevoke(ctx, username, func(a *Account) {
		a.TOTPSecret, a.TOTPLastStep = secret, step
	})
	return err
}

// hasFactor tells whether an account has any second factor: an
// authenticator app, recovery codes or a passkey.
func (s *Server) hasFactor(ctx context.Context, acct *Account) (bool, error) {
	return hasAnyFactor(ctx, s.cfg.Records, acct)
}

func hasAnyFactor(ctx context.Context, rec fhir.Records, acct *Account) (bool, error) {
	if acct.HasSecondFactor() {
		return true, nil
	}
	return passkeys{rec: rec}.has(ctx, acct.ID)
}

// enrollGate sends a signed-in account without a second factor to
// enrollment from the account pages, unless its session put it off.
func (s *Server) enrollGate(c echo.Context, login *Login, acct *Account) (bool, error) {
	if login.ACR != ACRPassword || login.Deferred || acct.HasSecondFactor() {
		return false, nil
	}
	if has, err := s.passkeys.has(c.Request().Context(), acct.ID); err != nil || has {
		return false, err
	}
	return true, s.toEnroll(c, c.Request().URL.RequestURI())
}
