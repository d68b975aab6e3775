package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// AccessReports gives the access report page its lines: cmd/fhirserver
// wires it to the audit trail.
type AccessReports interface {
	// AccessReport lists the accesses to a patient's record (patient is
	// the Patient id), newest first, with each Time in the time zone the
	// page shows. The error is only for failing to read them.
	AccessReport(ctx context.Context, patient string) ([]AccessLine, error)
}

// AccessLine is one access to a patient's record, in plain words: no
// field holds an identifier.
type AccessLine struct {
	Time time.Time
	// Who, from the patient's side ("You", "Dr. Ada Okafor", "Your
	// caregiver Sam Rivera"); Role in plain words; App the app's name
	// ("" for none); What they did; Why, when a purpose was recorded.
	Who, Role, App, What, Why string
	Emergency                 bool // break-glass access
	Refused                   bool // refused or failed: nothing was disclosed
}

// reportPageRows is how many lines one page of the report shows.
const reportPageRows = 100

// accessReport is what the report page shows.
type accessReport struct {
	// PatientName is set when a caregiver reads the report of the
	// patient they care for.
	PatientName string
	Rows        []reportRow
	Total       int
	Page, Pages int
	Newer       string // link to the newer page, "" on the first
	Older       string // link to the older page, "" on the last
}

type reportRow struct {
	When, Datetime            string
	Who, Role, App, What, Why string
	Emergency, Refused        bool
}

// accessReportPage shows a signed-in patient, or a caregiver, who has
// accessed the patient's record. Staff are refused: auditors search the
// AuditEvents.
func (s *Server) accessReportPage(c echo.Context) error {
	ctx := c.Request().Context()
	login, err := s.logins.current(c)
	if err != nil {
		return err
	}
	toLogin := func() error {
		return c.Redirect(http.StatusSeeOther, "/oauth/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
	if login == nil {
		return toLogin()
	}
	acct, err := s.accounts.Get(ctx, login.Account)
	if err != nil || acct.Disabled {
		s.logins.end(c)
		return toLogin()
	}
	if gated, err := s.enrollGate(c, login, acct); gated || err != nil {
		return err
	}
	if acct.Staff() {
		return s.page(c, http.StatusForbidden, "error", pageData{Title: "This page is for patients and their caregivers",
			Message: "Staff accounts have no access report of their own. To review access to a patient's record, ask an auditor."})
	}
	var patient, patientName string
	switch acct.Role {
	case "patient":
		patient, _ = strings.CutPrefix(acct.FHIRUser, "Patient/")
	case "proxy":
		if patient, err = s.proxyPatient(ctx, acct.FHIRUser); err != nil {
			return err
		}
		if patient != "" {
			patientName = s.patientLabel(ctx, patient)
		}
	}
	if patient == "" {
		return s.page(c, http.StatusForbidden, "error", pageData{Title: "There is no record linked to your account",
			Message: "Ask the care team to link your account to the record you look after."})
	}
	if s.cfg.AccessReports == nil {
		return s.page(c, http.StatusNotFound, "error", pageData{Title: "The access report is not available on this server"})
	}
	// Who looked at the record is the record's own data: no view without
	// its AuditEvent.
	if err := s.reportOrFail(c, SecurityEvent{Kind: AccessReportViewed, Account: acct.ID, Role: acct.Role, Patient: patient, Success: true}); err != nil {
		return s.page(c, http.StatusServiceUnavailable, "error", pageData{Title: "Your access report cannot be shown right now",
			Message: "Please try again in a few minutes."})
	}
	lines, err := s.cfg.AccessReports.AccessReport(ctx, patient)
	if err != nil {
		s.log.Error("access report failed", "error", err)
		return s.page(c, http.StatusServiceUnavailable, "error", pageData{Title: "Your access report cannot be shown right now",
			Message: "Please try again in a few minutes."})
	}
	r := &accessReport{PatientName: patientName, Total: len(lines)}
	r.Pages = max(1, (len(lines)+reportPageRows-1)/reportPageRows)
	r.Page = 1
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil {
		r.Page = min(max(n, 1), r.Pages)
	}
	if r.Page > 1 {
		r.Newer = "/oauth/access-report?page=" + strconv.Itoa(r.Page-1)
	}
	if r.Page < r.Pages {
		r.Older = "/oauth/access-report?page=" + strconv.Itoa(r.Page+1)
	}
	start := (r.Page - 1) * reportPageRows
	for _, l := range lines[start:min(start+reportPageRows, len(lines))] {
		r.Rows = append(r.Rows, reportRow{
			When: l.Time.Format("2 January 2006, 15:04"), Datetime: l.Time.Format(time.RFC3339),
			Who: l.Who, Role: l.Role, App: l.App, What: l.What, Why: l.Why, Emergency: l.Emergency, Refused: l.Refused,
		})
	}
	t := "Who has accessed your record"
	if patientName != "" {
		t = "Who has accessed " + patientName + "'s record"
	}
	if r.Pages > 1 {
		t += ", page " + strconv.Itoa(r.Page) + " of " + strconv.Itoa(r.Pages)
	}
	return s.page(c, http.StatusOK, "report", pageData{Title: t, Report: r})
}
