package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// Staff-assisted reset: a user who lost their second factor (and their
// recovery codes) asks the front desk, a nurse or an administrator, who
// checks who they are by one of VerificationMethods and resets the
// account: its authenticator app, recovery codes and passkeys are
// removed, every session, trusted device, code and token ends, the lock
// after repeated failures is lifted, and a one-time set-up link is
// issued (EnrollLinks), through which alone the account may set up a new
// second factor (EnrollByLink). The owner is told at their phone and
// email; the audit trail records who reset, who verified and how.

const resetPath = "/oauth/reset"

// VerificationMethods are the ways staff may confirm a person's
// identity before a reset: a closed set, so the audit trail's text stays
// fixed (never an ID number or a name).
var VerificationMethods = []string{"photo ID", "two documents", "known to staff in person", "video call with photo ID"}

// ResetStaffRoles may reset another account's second factor.
var ResetStaffRoles = []string{"front-desk", "nurse", "admin"}

// Reset is one staff-assisted reset.
type Reset struct {
	By         *Account // the staff user resetting (nil from the command line)
	VerifiedBy *Account // the staff user who checked the identity
	Method     string   // one of VerificationMethods
	LinkLife   time.Duration
}

// Reset refusals (the page ties each to its field).
var (
	ErrResetMethod   = errors.New("verification method: choose one of " + strings.Join(VerificationMethods, ", "))
	ErrResetVerifier = errors.New("verified by: a staff member's active account (front desk, nurse or administrator)")
	ErrResetTarget   = errors.New("a staff user cannot reset their own account, an administrator's, or (unless an administrator) another staff account")
)

// mayReset tells whether staff (nil: the command line, an administrator
// of the server) may reset target.
func mayReset(staff, target *Account) bool {
	if staff == nil {
		return true
	}
	if staff.ID == target.ID || target.Role == "admin" || !slices.Contains(ResetStaffRoles, staff.Role) {
		return false
	}
	return staff.Role == "admin" || !target.Staff()
}

// Reset resets username's second factor as r says and returns the
// one-time set-up link token (EnrollURL makes the address). passkeys is
// where the account's passkeys are removed from (the same records).
func (as Accounts) Reset(ctx context.Context, username string, r Reset) (*Account, string, error) {
	if !slices.Contains(VerificationMethods, r.Method) {
		return nil, "", ErrResetMethod
	}
	if r.VerifiedBy == nil || r.VerifiedBy.Disabled || !slices.Contains(ResetStaffRoles, r.VerifiedBy.Role) {
		return nil, "", ErrResetVerifier
	}
	target, err := as.ByUsername(ctx, username)
	if err != nil {
		return nil, "", err
	}
	if !mayReset(r.By, target) || r.VerifiedBy.ID == target.ID {
		return nil, "", ErrResetTarget
	}
	if target.Disabled {
		return nil, "", errors.New("the account is disabled")
	}
	a, revokeErr := as.changeAndRevoke(ctx, target.Username, func(a *Account) {
		a.TOTPSecret, a.TOTPLastStep, a.Recovery, a.EnrollByLink = "", 0, nil, true
	})
	if a == nil {
		return nil, "", revokeErr
	}
	found, err := as.Records.FindRecords(ctx, kindPasskey, "account", a.ID)
	for _, rec := range found {
		err = errors.Join(err, as.Records.DeleteRecord(ctx, kindPasskey, rec.Key))
	}
	err = errors.Join(revokeErr, err, ignoreNotFound(as.Records.DeleteRecord(ctx, kindFallback, a.ID)), as.unlockQuietly(ctx, a))
	by, issuedBy := "the command line", ""
	if r.By != nil {
		by, issuedBy = "staff account "+r.By.ID, r.By.ID
	}
	e := SecurityEvent{Kind: FactorReset, Account: a.ID, Role: a.Role, Patient: fhirUserID(a.FHIRUser), Success: err == nil,
		Detail: "second factor reset by " + by + "; identity verified by staff account " + r.VerifiedBy.ID + " (" + r.Method +
			"); authenticator app, recovery codes and passkeys removed; sessions, trusted devices and tokens ended; account unlocked"}
	if err != nil {
		e.Detail = "second factor reset by " + by + "; identity verified by staff account " + r.VerifiedBy.ID + " (" + r.Method +
			"); not every step succeeded"
		reportChange(ctx, as.Events, as.Logger, as.Now, e)
		return a, "", err
	}
	token, err := EnrollLinks{Records: as.Records, Now: as.Now}.Issue(ctx, a, issuedBy, r.LinkLife)
	if err != nil {
		e.Success, e.Detail = false, e.Detail+"; the set-up link could not be issued"
		reportChange(ctx, as.Events, as.Logger, as.Now, e)
		return a, "", err
	}
	reportChange(ctx, as.Events, as.Logger, as.Now, e)
	ev := SecurityEvent{Kind: EnrollmentLinkIssued, Account: a.ID, Role: a.Role, Success: true,
		Detail: "enrollment link issued after a staff reset by " + by + "; one use"}
	if r.By != nil {
		ev.Account, ev.Role, ev.Detail = r.By.ID, r.By.Role, "enrollment link issued for account "+a.ID+" after a staff reset; one use"
	}
	reportChange(ctx, as.Events, as.Logger, as.Now, ev)
	as.notify(ctx, a, FactorReset, NoticeReset)
	return a, token, nil
}

// unlockQuietly clears the failure counts that lock an account; the
// reset's own event records it.
func (as Accounts) unlockQuietly(ctx context.Context, a *Account) error {
	return errors.Join(ignoreNotFound(as.userCounter(a.Username).clear(ctx)),
		ignoreNotFound(counter{as.Records, kindCodeFail, a.ID}.clear(ctx)))
}

func ignoreNotFound(err error) error {
	if errors.Is(err, fhir.ErrNotFound) {
		return nil
	}
	return err
}

// staffForReset returns the signed-in staff user who may reset others'
// second factors (signed in with a strong second factor), or answers.
func (s *Server) staffForReset(c echo.Context) (*Account, bool, error) {
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return nil, true, err
	}
	if login == nil {
		return nil, true, c.Redirect(http.StatusSeeOther, "/oauth/login?next="+resetPath)
	}
	if !slices.Contains(ResetStaffRoles, acct.Role) {
		return nil, true, s.page(c, http.StatusForbidden, "error", pageData{Title: "Only the front desk, nurses and administrators reset a sign-in"})
	}
	if !StrongAuthentication(login.ACR, login.AMR) {
		return nil, true, s.page(c, http.StatusForbidden, "error", pageData{Title: "Sign in with your second factor first",
			Message: "Resetting someone's sign-in needs a sign-in with your authenticator app or passkey on this device."})
	}
	return acct, false, nil
}

// resetPage is the reset form: the username, and how identity was checked.
func (s *Server) resetPage(c echo.Context) error {
	if _, answered, err := s.staffForReset(c); answered {
		return err
	}
	return s.page(c, http.StatusOK, "reset", pageData{Title: "Reset a lost second factor", Methods: VerificationMethods})
}

// resetPost resets the account named, and shows its set-up link once.
func (s *Server) resetPost(c echo.Context) error {
	if !s.checkCSRF(c) {
		return s.formExpired(c)
	}
	staff, answered, err := s.staffForReset(c)
	if answered {
		return err
	}
	ctx := c.Request().Context()
	username, method := c.FormValue("username"), c.FormValue("method")
	d := pageData{Title: "Reset a lost second factor: please check", Methods: VerificationMethods, Username: username, Method: method}
	if c.FormValue("verified") != "yes" {
		d.ErrorFor, d.Error = "verified", "Confirm that you checked the person's identity yourself."
		return s.page(c, http.StatusBadRequest, "reset", d)
	}
	if !slices.Contains(VerificationMethods, method) {
		d.ErrorFor, d.Error = "method", "Choose how you checked the person's identity."
		return s.page(c, http.StatusBadRequest, "reset", d)
	}
	a, token, err := s.accounts.Reset(ctx, username, Reset{By: staff, VerifiedBy: staff, Method: method})
	switch {
	case errors.Is(err, fhir.ErrNotFound):
		d.ErrorFor, d.Error = "username", "No account has this username. Check the spelling with the person."
		return s.page(c, http.StatusBadRequest, "reset", d)
	case errors.Is(err, ErrResetTarget):
		d.ErrorFor, d.Error = "username", "You cannot reset this account: your own, an administrator's, or another staff member's. Ask an administrator."
		return s.page(c, http.StatusForbidden, "reset", d)
	case err != nil && a == nil:
		return err
	case err != nil:
		s.log.Error("oauth: staff reset incomplete", "account", a.ID, "err", err)
		return s.page(c, http.StatusInternalServerError, "error", pageData{Title: "The reset did not finish",
			Message: "Try again. If it fails again, ask an administrator."})
	}
	return s.page(c, http.StatusOK, "reset", pageData{Title: "Sign-in reset for " + a.Username, Username: a.Username,
		EnrollLink: EnrollURL(s.root, token)})
}
