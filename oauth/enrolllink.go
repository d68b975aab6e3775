package oauth

import (
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const enrollLinkPath = "/oauth/enroll-link"

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
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This form has expired", Message: "Go back, reload the page and try again."})
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
	token, err := links.Issue(ctx, target, staff.ID, DefaultEnrollLinkLife)
	if err != nil {
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
