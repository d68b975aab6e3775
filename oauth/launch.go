package oauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const launchLife = 5 * time.Minute

// launchRequest is a staff user's request to open an app for a patient.
type launchRequest struct {
	acct                       *Account
	client                     *Client
	patient, encounter, answer string // answer: the error title, when refused
	status                     int
}

// checkLaunch validates an EHR launch request: a signed-in staff user, a
// registered app with a launch URL, an existing patient, and an
// encounter of that patient.
func (s *Server) checkLaunch(c echo.Context, login *Login, clientID, patient, encounter string) launchRequest {
	ctx := c.Request().Context()
	lr := launchRequest{patient: patient, encounter: encounter}
	acct, err := s.accounts.Get(ctx, login.Account)
	if err != nil || acct.Disabled || !acct.Staff() {
		lr.status, lr.answer = http.StatusForbidden, "Only care team accounts can launch apps for a patient"
		return lr
	}
	client, err := s.clients.Get(ctx, clientID)
	if err != nil || client.LaunchURI == "" {
		lr.status, lr.answer = http.StatusBadRequest, "That app cannot be launched"
		return lr
	}
	if !fhir.ValidID(patient) {
		lr.status, lr.answer = http.StatusBadRequest, "Choose a patient first"
		return lr
	}
	if res, err := s.cfg.Store.Read(ctx, "Patient", patient); err != nil || res.Deleted {
		lr.status, lr.answer = http.StatusNotFound, "That patient was not found"
		return lr
	}
	if encounter != "" {
		var enc struct {
			Subject struct{ Reference string } `json:"subject"`
		}
		res, err := s.cfg.Store.Read(ctx, "Encounter", encounter)
		if !fhir.ValidID(encounter) || err != nil || res.Deleted || json.Unmarshal(res.JSON, &enc) != nil ||
			strings.TrimPrefix(enc.Subject.Reference, s.base+"/") != "Patient/"+patient {
			lr.status, lr.answer = http.StatusNotFound, "That encounter was not found for this patient"
			return lr
		}
	}
	lr.acct, lr.client = acct, client
	return lr
}

// ehrLaunchPage asks a signed-in staff user to confirm opening an app for
// a patient (and optionally an encounter), as an EHR's launch button
// would. Creating the launch takes the confirmation form, so a link from
// elsewhere cannot launch anything by itself.
func (s *Server) ehrLaunchPage(c echo.Context) error {
	login, err := s.logins.current(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
	lr := s.checkLaunch(c, login, c.QueryParam("client"), c.QueryParam("patient"), c.QueryParam("encounter"))
	if lr.answer != "" {
		return s.page(c, lr.status, "error", pageData{Title: lr.answer})
	}
	return s.page(c, http.StatusOK, "launch", pageData{Title: "Open " + appName(lr.client) + "?", AppName: appName(lr.client),
		ThirdParty: !lr.client.Provider, Patient: s.patientLabel(c.Request().Context(), lr.patient),
		Launch: launchForm{Client: lr.client.ID, Patient: lr.patient, Encounter: lr.encounter}})
}

// ehrLaunch records the launch context and sends the browser to the
// app's launch URL with iss and launch.
func (s *Server) ehrLaunch(c echo.Context) error {
	ctx := c.Request().Context()
	if !s.checkCSRF(c) {
		return s.formExpired(c)
	}
	login, err := s.logins.current(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login")
	}
	lr := s.checkLaunch(c, login, c.FormValue("client"), c.FormValue("patient"), c.FormValue("encounter"))
	if lr.answer != "" {
		return s.page(c, lr.status, "error", pageData{Title: lr.answer})
	}
	id := randomToken(24)
	data, err := json.Marshal(launchContext{Client: lr.client.ID, Account: lr.acct.ID, Patient: lr.patient, Encounter: lr.encounter})
	if err != nil {
		return err
	}
	if err := s.cfg.Records.PutRecord(ctx, &fhir.Record{Kind: kindLaunch, Key: id, Data: data, Expires: s.now().Add(launchLife)}); err != nil {
		return err
	}
	// A launch grants nothing by itself (the app's token is recorded when
	// issued): a failed report is logged and the launch goes on.
	s.report(c, SecurityEvent{Kind: LaunchCreated, Account: lr.acct.ID, Role: lr.acct.Role, Client: lr.client.ID,
		Patient: lr.patient, Success: true, Detail: "EHR launch confirmed"})
	u, err := url.Parse(lr.client.LaunchURI)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("iss", s.base)
	q.Set("launch", id)
	u.RawQuery = q.Encode()
	return c.Redirect(http.StatusSeeOther, u.String())
}
