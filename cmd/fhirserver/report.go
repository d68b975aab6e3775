package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// accessReportDoc is the answer of GET /fhir/Patient/{id}/$access-report:
// plain JSON (Content-Type application/json), not a FHIR resource, since
// its lines are words for people, not data for FHIR clients:
//
//	{"patient": "Patient/123", "since": "2020-11-26T14:05:00.000Z",
//	 "truncated": false,
//	 "lines": [{"time": "2026-11-26T14:05:00.000Z", "who": "Dr. Ada Okafor",
//	            "role": "oncologist", "app": "Oncology EHR",
//	            "what": "looked at your test results and observations",
//	            "why": "emergency access", "emergency": true, "refused": false}]}
//
// lines are newest first and cover audit.ReportYears back from now (since);
// truncated is true when the report stopped at audit.MaxAccessLines, the
// newest ones. Every field of a line is always present ("" when unknown).
type accessReportDoc struct {
	Patient   string       `json:"patient"`
	Since     string       `json:"since"`
	Truncated bool         `json:"truncated"`
	Lines     []accessLine `json:"lines"`
}

type accessLine struct {
	Time      string `json:"time"`
	Who       string `json:"who"`
	Role      string `json:"role"`
	App       string `json:"app"`
	What      string `json:"what"`
	Why       string `json:"why"`
	Emergency bool   `json:"emergency"`
	Refused   bool   `json:"refused"`
}

// accessReport answers GET /fhir/Patient/{id}/$access-report: the
// patient's access report, for the patient or a caregiver acting for
// them, to a token whose patient in context is {id} and whose scopes read
// the patient's record. Staff and backend services are refused (403):
// auditors search AuditEvent. Another patient's report answers 404, as
// another patient's data does. The audit middleware records the request
// like any other.
func (m *Main) accessReport(c echo.Context) error {
	ctx := c.Request().Context()
	if c.Param("type") != "Patient" {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotFound, Diagnostics: "$access-report is served for Patient"}
	}
	id := c.Param("id")
	p := fhir.PrincipalFrom(ctx)
	switch {
	case p == nil:
		return &fhir.Error{Code: fhir.CodeLogin, Status: http.StatusUnauthorized, Diagnostics: "an access token is required"}
	case !slices.Contains(p.Roles, "patient") && !slices.Contains(p.Roles, "proxy"):
		return &fhir.Error{Code: fhir.CodeForbidden, Diagnostics: "the access report is for the patient and their caregivers; auditors search AuditEvent"}
	case p.Patient == "" || p.Patient != id:
		return &fhir.Error{Code: fhir.CodeNotFound, Diagnostics: "Patient/" + id + " is not known"}
	case !readsPatient(p.Scopes):
		return &fhir.Error{Code: fhir.CodeForbidden, Diagnostics: "the access granted does not include reading the patient's record"}
	}
	since := time.Now().AddDate(-audit.ReportYears, 0, 0)
	lines, err := audit.AccessReport(ctx, m.Store, id, since, reportNames{m})
	if err != nil {
		return err
	}
	doc := accessReportDoc{Patient: "Patient/" + id, Since: fhir.TruncateTime(since).Format(fhir.InstantFormat),
		Truncated: len(lines) >= audit.MaxAccessLines, Lines: make([]accessLine, len(lines))}
	for i, l := range lines {
		doc.Lines[i] = accessLine{Time: fhir.TruncateTime(l.Time).Format(fhir.InstantFormat), Who: l.Who, Role: l.Role, App: l.App,
			What: l.What, Why: l.Why, Emergency: l.Emergency, Refused: l.Refused}
	}
	return c.JSON(http.StatusOK, doc)
}

// readsPatient tells whether SMART permissions read the Patient
// resource in the patient's context, without a granular constraint: the
// report tells who saw the record, so an app granted only part of it
// (patient/Observation.rs) does not get it.
func readsPatient(perms []fhir.Permission) bool {
	for _, p := range perms {
		if (p.Level == "patient" || p.Level == "user") && (p.Type == "Patient" || p.Type == "*") &&
			strings.Contains(p.Ops, "r") && p.Query == "" {
			return true
		}
	}
	return false
}

// reportNames names the people of an access report from their resources
// (found through their accounts when an event names the account alone)
// and the apps from the client registry.
type reportNames struct{ m *Main }

var _ audit.Names = reportNames{}

func (n reportNames) PersonName(ctx context.Context, ref string) (string, error) {
	return audit.StoreNames{Store: n.m.Store}.PersonName(ctx, ref)
}

// ClientName is the app's registered name: never its id, which the
// registry shows where it has no name.
func (n reportNames) ClientName(ctx context.Context, id string) (string, error) {
	c, err := n.m.OAuth.Clients().Get(ctx, id)
	if errors.Is(err, fhir.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	return c.Name, nil
}

// AccountUser is the account's own resource (its fhirUser), which an
// event names only when the token carried the fhirUser scope.
func (n reportNames) AccountUser(ctx context.Context, id string) (string, error) {
	a, err := n.m.OAuth.Accounts().Get(ctx, id)
	if errors.Is(err, fhir.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("account: %w", err)
	}
	return a.FHIRUser, nil
}

// accessReports gives the authorization server's access report page its
// lines, with times in the clinic's time zone (--timezone).
type accessReports struct{ m *Main }

var _ oauth.AccessReports = accessReports{}

func (r accessReports) AccessReport(ctx context.Context, patient string) ([]oauth.AccessLine, error) {
	lines, err := audit.AccessReport(ctx, r.m.Store, patient, time.Time{}, reportNames{r.m})
	if err != nil {
		return nil, err
	}
	loc := r.m.Config.AlertLocation
	if loc == nil {
		loc = time.Local
	}
	out := make([]oauth.AccessLine, len(lines))
	for i, l := range lines {
		out[i] = oauth.AccessLine{Time: l.Time.In(loc), Who: l.Who, Role: l.Role, App: l.App, What: l.What, Why: l.Why,
			Emergency: l.Emergency, Refused: l.Refused}
	}
	return out, nil
}
