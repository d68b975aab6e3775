package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const enrollLinkPath = "/oauth/enroll-link"

// Enrollment link refusals.
var (
	// ErrLinkHasFactor: the account has a second factor (a passkey
	// counts); a lost one is replaced through a staff reset, which
	// checks the person's identity first.
	ErrLinkHasFactor = errors.New("the account has a second factor: a set-up link cannot replace it; reset it after checking the person's identity (fhirserver user reset, or /oauth/reset)")
	// ErrLinkTarget: the issuer may not issue a link for this account.
	ErrLinkTarget = errors.New("front desk and nurses issue set-up links for patients and caregivers only, administrators for any account but an administrator's, and nobody for their own")
)

// mayIssueLink tells whether staff (nil: the command line, an
// administrator of the server) may issue an enrollment link for
// target: front desk and nurses for patients and caregivers, an
// administrator for anyone but an administrator, nobody for
// themselves.
func mayIssueLink(staff, target *Account) bool {
	if target.Role == "admin" {
		return false
	}
	if staff == nil {
		return true
	}
	if staff.ID == target.ID || !slices.Contains(EnrollStaffRoles, staff.Role) {
		return false
	}
	return staff.Role == "admin" || target.Role == "patient" || target.Role == "proxy"
}

// IssueFor issues an enrollment link for target on behalf of staff (nil
// from the command line) as Issue does, once staff may (ErrLinkTarget)
// and target has no second factor (ErrLinkHasFactor).
func (el EnrollLinks) IssueFor(ctx context.Context, staff, target *Account, life time.Duration) (string, error) {
	if !mayIssueLink(staff, target) {
		return "", ErrLinkTarget
	}
	by := ""
	if staff != nil {
		by = staff.ID
	}
	return el.Issue(ctx, target, by, life)
}

// NotifyEnrollLink tells an account's owner that a set-up link was
// issued for their account.
func (as Accounts) NotifyEnrollLink(ctx context.Context, a *Account) {
	as.notify(ctx, a, EnrollmentLinkIssued, NoticeEnrollLink)
}

// linkForAccountWithFactor answers a set-up link opened for an account
// that has a second factor (it gained one since the link was issued).
func (s *Server) linkForAccountWithFactor(c echo.Context) error {
	return s.page(c, http.StatusConflict, "error", pageData{Title: "This set-up link cannot be used",
		Message: "The account already has a second way to sign in, and a set-up link cannot change it. Sign in with it. If it is lost, the front desk or your nurse can reset it after checking who you are."})
}

// staffForLinks returns the signed-in staff user who may issue
// enrollment links (front desk, nurse, admin, signed in with two real
// factors), or answers for them.
func (s *Server) staffForLinks(c echo.Context) (*Account, bool, error) {
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return nil, true, err
	}
	if login == nil {
		return nil, true, c.Redirect(http.StatusSeeOther, "/oauth/login?next="+enrollLinkPath)
	}
	if !slices.Contains(EnrollStaffRoles, acct.Role) {
		return nil, true, s.page(c, http.StatusForbidden, "error", pageData{Title: "Only the front desk, nurses and administrators issue set-up links"})
	}
	if !StrongAuthentication(login.ACR, login.AMR) {
		return nil, true, s.page(c, http.StatusForbidden, "error", pageData{Title: "Sign in with your second factor first",
			Message: "Issuing a set-up link needs a sign-in with your authenticator app or passkey on this device."})
	}
	return acct, false, nil
}

// enrollLinkPage is the check-in form: the patient's username.
func (s *Server) enrollLinkPage(c echo.Context) error {
	if _, answered, err := s.staffForLinks(c); answered {
		return err
	}
	return s.page(c, http.StatusOK, "enrolllink", pageData{Title: "Issue a set-up link"})
}

// enrollLinkPost issues a one-time, 15-minute enrollment link for the
// account named, and shows it once.
func (s *Server) enrollLinkPost(c echo.Context) error {
	if !s.checkCSRF(c) {
		return s.formExpired(c)
	}
	staff, answered, err := s.staffForLinks(c)
	if answered {
		return err
	}
	ctx := c.Request().Context()
	username := c.FormValue("username")
	target, err := s.accounts.ByUsername(ctx, username)
	if errors.Is(err, fhir.ErrNotFound) || (err == nil && target.Disabled) {
		return s.page(c, http.StatusBadRequest, "enrolllink", pageData{Title: "Issue a set-up link: please check", Username: username,
			ErrorFor: "username", Error: "No active account has this username. Check the spelling with the patient."})
	} else if err != nil {
		return err
	}
	links := EnrollLinks{Records: s.cfg.Records, Now: s.now}
	token, err := links.IssueFor(ctx, staff, target, DefaultEnrollLinkLife)
	refused := func(status int, why, msg string) error {
		s.report(c, SecurityEvent{Kind: EnrollmentLinkIssued, Account: staff.ID, Role: staff.Role,
			Detail: "enrollment link refused for account " + target.ID + ": " + why})
		return s.page(c, status, "enrolllink", pageData{Title: "Issue a set-up link: please check", Username: username,
			ErrorFor: "username", Error: msg})
	}
	switch {
	case errors.Is(err, ErrLinkTarget):
		return refused(http.StatusForbidden, "not an account this role may issue one for",
			"You cannot issue a set-up link for this account. Front desk and nurses issue them for patients and caregivers; administrators for other staff; nobody for their own account.")
	case errors.Is(err, ErrLinkHasFactor):
		return refused(http.StatusConflict, "the account has a second factor",
			"This account already has a second way to sign in, and a set-up link cannot replace it. If the person lost it, check who they are and use Reset a lost second factor (/oauth/reset).")
	case err != nil:
		return err
	}
	ev := SecurityEvent{Kind: EnrollmentLinkIssued, Account: staff.ID, Role: staff.Role, Success: true,
		Detail: "enrollment link issued for account " + target.ID + "; one use, 15 minutes"}
	if target.Role == "patient" {
		ev.Patient = fhirUserID(target.FHIRUser)
	}
	if err := s.reportOrFail(c, ev); err != nil {
		_ = s.cfg.Records.DeleteRecord(ctx, kindEnrollLink, hashKey(token))
		return s.unavailable(c)
	}
	s.accounts.NotifyEnrollLink(ctx, target)
	return s.page(c, http.StatusOK, "enrolllink", pageData{Title: "Set-up link for " + target.Username, Username: target.Username,
		EnrollLink: EnrollURL(s.root, token)})
}

// fhirUserID is the id of a Patient/ID reference.
func fhirUserID(ref string) string {
	if len(ref) > len("Patient/") && ref[:len("Patient/")] == "Patient/" {
		return ref[len("Patient/"):]
	}
	return ""
}
