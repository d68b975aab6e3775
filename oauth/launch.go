package oauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const launchLife = 5 * time.Minute

// ehrLaunch lets a signed-in staff user open an app for a patient (and
// optionally an encounter): it records the launch context and sends the
// browser to the app's launch URL with iss and launch, as an EHR does.
func (s *Server) ehrLaunch(c echo.Context) error {
	ctx := c.Request().Context()
	login, err := s.logins.current(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
	acct, err := s.accounts.Get(ctx, login.Account)
	if err != nil || acct.Disabled || !acct.Staff() {
		return s.page(c, http.StatusForbidden, "error", pageData{Title: "Only care team accounts can launch apps for a patient"})
	}
	client, err := s.clients.Get(ctx, c.QueryParam("client"))
	if err != nil || client.LaunchURI == "" {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "That app cannot be launched", Message: "It is not registered with a launch URL."})
	}
	patient, encounter := c.QueryParam("patient"), c.QueryParam("encounter")
	if !fhir.ValidID(patient) {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "Choose a patient first"})
	}
	if res, err := s.cfg.Store.Read(ctx, "Patient", patient); err != nil || res.Deleted {
		return s.page(c, http.StatusNotFound, "error", pageData{Title: "That patient was not found"})
	}
	if encounter != "" {
		if res, err := s.cfg.Store.Read(ctx, "Encounter", encounter); !fhir.ValidID(encounter) || err != nil || res.Deleted {
			return s.page(c, http.StatusNotFound, "error", pageData{Title: "That encounter was not found"})
		}
	}
	id := randomToken(24)
	data, err := json.Marshal(launchContext{Client: client.ID, Account: acct.ID, Patient: patient, Encounter: encounter})
	if err != nil {
		return err
	}
	if err := s.cfg.Records.PutRecord(ctx, &fhir.Record{Kind: kindLaunch, Key: id, Data: data, Expires: s.now().Add(launchLife)}); err != nil {
		return err
	}
	u, err := url.Parse(client.LaunchURI)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("iss", s.base)
	q.Set("launch", id)
	u.RawQuery = q.Encode()
	return c.Redirect(http.StatusSeeOther, u.String())
}
