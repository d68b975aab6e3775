package oauth

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth/scope"
)

//go:embed pages/*.html
var pageFiles embed.FS

// passkeyJS is the one script the pages load: the passkey ceremonies
// (navigator.credentials.create and get), served from this server.
//
//go:embed pages/passkey.js
var passkeyJS []byte

// Content-Security-Policy of the pages: no script at all, or on the
// pages with passkey buttons only this server's script file (never
// inline) and requests back to this server.
const (
	cspNoScript = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	cspScript   = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

func parsePages() *template.Template {
	return template.Must(template.New("pages").ParseFS(pageFiles, "pages/*.html"))
}

// pageData is what every page template may show.
type pageData struct {
	Title, Message, Error string
	CSRF, Next, Flow      string
	Username              string
	Demo                  bool
	AppName               string
	ThirdParty            bool
	Patient               string
	Choices               []choice
	Always                []string
	Staff, Searched       bool
	Query                 string
	Patients              []patientChoice
	Launch                launchForm
	Left                  int           // recovery codes left
	Codes                 []string      // new recovery codes, shown once
	Report                *accessReport // the access report page
	// Fallbacks are the code page's "send me a code" buttons; Phone and
	// Email an account's contact details (masked, or as typed on the
	// contact form); Methods, Method and VerifiedBy a staff reset's
	// identity check.
	Fallbacks          []fallbackChoice
	Phone, Email       string
	Methods            []string
	Method, VerifiedBy string
	// Passkeys: whether the server offers them, the page's script, the
	// account's passkeys, a sign-in recent enough to change them, and a
	// sign-in page asked for a passkey (step-up).
	PasskeysOn, Script, Fresh bool
	PasskeyNeeded             bool
	Passkeys                  []passkeyRow
	Notice                    string // a plain-language confirmation (role=status)
	ErrorFor                  string // the id of the field Error is about
	// Enrollment: the authenticator secret (grouped) and its otpauth://
	// URI, whether it came through a staff link, whether the user may put
	// it off and how many times more; EnrollLink is a link just issued.
	Secret, OTPURI, EnrollLink string
	ViaLink, CanDefer          bool
	DeferralsLeft              int
	// FormTarget is an origin the page's form may end up at besides this
	// server (the app's redirect URI, after the authorization page):
	// browsers apply form-action to the redirects after a form, too.
	FormTarget string
	// TrustDays is how long a trusted device lasts (the box on the code
	// page and the passkey sign-in); Devices the trusted devices page's
	// rows; Risk: the sign-in page asks for a passkey because something
	// about the sign-in was new (risk.go).
	TrustDays int
	Devices   []deviceRow
	Risk      bool
	// CanRecover: that sign-in page may go on with a recovery code
	// instead of the passkey; RecoveryOnly: the code page takes a
	// recovery code only (secondfactor.go).
	CanRecover, RecoveryOnly bool
}

type launchForm struct{ Client, Patient, Encounter string }

type choice struct{ Scope, Text string }

type patientChoice struct{ ID, Name, BirthDate string }

// page renders a template with the headers every page carries: no
// caching, no framing, no script but the passkey pages' own file.
func (s *Server) page(c echo.Context, status int, name string, d pageData) error {
	d.Demo = s.cfg.Demo
	d.TrustDays = int(s.cfg.TrustedDeviceLife / (24 * time.Hour))
	if name == "login" {
		d = s.loginData(d)
	}
	if d.CSRF == "" {
		d.CSRF = s.csrfToken(c)
	}
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, d); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	csp := cspNoScript
	if d.Script {
		csp = cspScript
	}
	if d.FormTarget != "" {
		csp = strings.Replace(csp, "form-action 'self'", "form-action 'self' "+d.FormTarget, 1)
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(status, buf.Bytes())
}

// cspOrigin is the scheme://host[:port] of a URL as a CSP source, or ""
// when it has none or holds a character a source may not.
func cspOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.ContainsAny(u.Host, " ;,'\"\\") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// safeNext keeps a post-login destination on this server's OAuth pages.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/oauth/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/oauth/signed-in"
}

func (s *Server) loginPage(c echo.Context) error {
	risk := c.QueryParam("risk") == "1"
	return s.page(c, http.StatusOK, "login", pageData{Title: "Sign in", Next: safeNext(c.QueryParam("next")),
		PasskeyNeeded: c.QueryParam("passkey") == "1", Risk: risk, CanRecover: risk && s.passkeyPending(c)})
}

// loginData adds the passkey button to every sign-in page when the
// server offers passkeys.
func (s *Server) loginData(d pageData) pageData {
	d.PasskeysOn, d.Script = s.rp != nil, s.rp != nil
	return d
}

// passkeyScript serves the pages' script.
func (s *Server) passkeyScript(c echo.Context) error {
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", passkeyJS)
}

// loginPost checks the password. Every failure reads the same, whatever
// went wrong, so the page never tells whether a username exists.
func (s *Server) loginPost(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if !s.checkCSRF(c) {
		return s.page(c, http.StatusBadRequest, "login", pageData{Title: "Sign in", Next: next,
			Error: "This page had expired. Please sign in again."})
	}
	username := c.FormValue("username")
	failedBefore := s.accounts.recentFailures(c.Request().Context(), username) // read before a right password clears it
	acct, why, err := s.accounts.authenticate(c.Request().Context(), username, c.FormValue("password"))
	// The event names the account, never the username: a failed sign-in's
	// username may be a mistyped password.
	ev := SecurityEvent{Kind: SignIn, Detail: why}
	if acct != nil {
		ev.Account, ev.Role = acct.ID, acct.Role
	}
	if errors.Is(err, ErrThrottled) {
		s.report(c, ev)
		return s.page(c, http.StatusTooManyRequests, "login", pageData{Title: "Sign in: please wait", Next: next, Username: username,
			Error: "There have been several failed attempts to sign in. Wait a few minutes, then try again."})
	}
	if errors.Is(err, ErrBadCredentials) {
		s.report(c, ev)
		return s.page(c, http.StatusUnauthorized, "login", pageData{Title: "Sign in: try again", Next: next, Username: username,
			Error: "That username and password do not match. Check them and try again."})
	} else if err != nil {
		return err
	}
	// The password was right; the second factor (or a trusted device,
	// when nothing about the sign-in is new) decides. No session exists
	// until it does.
	if answered, err := s.afterPassword(c, acct, next, failedBefore); answered {
		return err
	}
	hasPasskey, err := s.passkeys.has(c.Request().Context(), acct.ID)
	if err != nil {
		return err
	}
	ev.Success, ev.Detail = true, "password"
	if err := s.reportOrFail(c, ev); err != nil {
		return s.unavailable(c)
	}
	s.logins.end(c)
	if _, err := s.logins.start(c, acct.ID, []string{"pwd"}, ACRPassword); err != nil {
		return err
	}
	if !hasPasskey {
		// No second factor at all: set one up now (or put it off, while
		// the account may).
		return s.toEnroll(c, next)
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// unavailable answers a page whose request cannot be recorded.
func (s *Server) unavailable(c echo.Context) error {
	return s.page(c, http.StatusServiceUnavailable, "error", pageData{Title: "Signing in is not possible right now",
		Message: "Please try again in a few minutes."})
}

func (s *Server) logout(c echo.Context) error {
	if !s.checkCSRF(c) {
		return s.formExpired(c)
	}
	if id := s.logins.end(c); id != "" {
		ev := SecurityEvent{Kind: SignOut, Account: id, Success: true, Detail: "signed out; online_access grants ended"}
		if acct, err := s.accounts.Get(c.Request().Context(), id); err == nil {
			ev.Role = acct.Role
		}
		// Signing out takes access away: recorded or not, it happens.
		s.report(c, ev)
	}
	return s.page(c, http.StatusOK, "error", pageData{Title: "You are signed out"})
}

// logoutEverywhere ends every sign-in session of the account, on every
// device, and every code and token issued to it: what to do after losing
// a phone or a laptop.
func (s *Server) logoutEverywhere(c echo.Context) error {
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
	ev := SecurityEvent{Kind: SignOut, Account: login.Account, Detail: "signed out everywhere; every session and token ended"}
	if acct, err := s.accounts.Get(c.Request().Context(), login.Account); err == nil {
		ev.Role = acct.Role
		if err := s.endDevicesNow(c, acct, revokedEverywhere); err != nil {
			return err
		}
	}
	if err := s.RevokeAccount(c.Request().Context(), login.Account); err != nil {
		ev.Detail = "sign out everywhere failed"
		s.report(c, ev)
		return err
	}
	ev.Success = true
	s.report(c, ev)
	setCookie(c, loginCookie, "", -1)
	s.setDeviceCookie(c, deviceCookie, "", -1)
	return s.page(c, http.StatusOK, "error", pageData{Title: "You are signed out everywhere",
		Message: "Every device is signed out and no longer trusted, and every app you allowed must ask again."})
}

func (s *Server) signedIn(c echo.Context) error {
	login, err := s.logins.current(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login")
	}
	return s.page(c, http.StatusOK, "signedin", pageData{Title: "You are signed in"})
}

// consentPage is the authorization page: what each scope lets the app
// do, in plain words, with a box to untick for each.
func (s *Server) consentPage(c echo.Context, f *flow, client *Client, requested []string) error {
	d := pageData{Title: "Allow " + appName(client) + "?", AppName: appName(client), ThirdParty: !client.Provider, Flow: f.id,
		FormTarget: cspOrigin(f.Form.Get("redirect_uri"))}
	for _, raw := range requested {
		sc, err := scope.Parse(raw)
		if err != nil {
			continue
		}
		text := scope.Describe(sc)
		if choosable(raw) {
			d.Choices = append(d.Choices, choice{Scope: raw, Text: text})
		} else if text != "" && !contains(d.Always, text) {
			d.Always = append(d.Always, text)
		}
	}
	if f.Patient != "" && needsPatient(requested) {
		d.Patient = s.patientLabel(c.Request().Context(), f.Patient)
	}
	return s.page(c, http.StatusOK, "authorize", d)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func appName(c *Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// pickerPage lets a user who may act for several patients choose one: a
// caregiver from the patients they care for, staff by searching names.
func (s *Server) pickerPage(c echo.Context, f *flow, acct *Account, ids []string) error {
	ctx := c.Request().Context()
	client, _ := s.clients.Get(ctx, f.Client)
	d := pageData{Title: "Choose a patient", Flow: f.id, Staff: acct.Staff()}
	if client != nil {
		d.AppName = appName(client)
	}
	if acct.Staff() {
		q := strings.TrimSpace(c.QueryParam("q"))
		d.Query = q
		if q != "" {
			d.Searched = true
			found, err := s.searchPatients(ctx, q)
			if err != nil {
				return err
			}
			d.Patients = found
		}
	} else {
		for _, id := range ids {
			d.Patients = append(d.Patients, patientChoice{ID: id, Name: s.patientLabel(ctx, id)})
		}
		if len(ids) == 0 {
			d.Error = "There is no patient record you can share yet. Ask the care team to link your account."
		}
	}
	return s.page(c, http.StatusOK, "picker", d)
}

// pick records the chosen patient, if this user may choose them.
func (s *Server) pick(c echo.Context, f *flow, acct *Account) error {
	ctx := c.Request().Context()
	id := c.FormValue("patient")
	ok := false
	switch {
	case acct.Staff():
		if fhir.ValidID(id) {
			res, err := s.cfg.Store.Read(ctx, "Patient", id)
			ok = err == nil && !res.Deleted
		}
	case acct.Role == "proxy":
		ids, err := s.proxyPatients(ctx, acct)
		if err != nil {
			return err
		}
		ok = contains(ids, id)
	}
	if !ok {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "That patient cannot be chosen", Message: "Go back and choose again."})
	}
	f.Patient = id
	if err := s.saveFlow(ctx, f); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/oauth/flow/"+f.id)
}

type humanName struct {
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type patientDoc struct {
	Name      []humanName `json:"name"`
	BirthDate string      `json:"birthDate"`
}

func (p patientDoc) label() string {
	for _, n := range p.Name {
		if n.Text != "" {
			return n.Text
		}
		if s := strings.TrimSpace(strings.Join(append(append([]string{}, n.Given...), n.Family), " ")); s != "" {
			return s
		}
	}
	return "Unnamed patient"
}

func (s *Server) patientLabel(ctx context.Context, id string) string {
	res, err := s.cfg.Store.Read(ctx, "Patient", id)
	if err != nil || res.Deleted {
		return "Patient " + id
	}
	var p patientDoc
	if json.Unmarshal(res.JSON, &p) != nil {
		return "Patient " + id
	}
	return p.label()
}

// searchPatients finds up to 20 patients whose name starts with q.
func (s *Server) searchPatients(ctx context.Context, q string) ([]patientChoice, error) {
	if s.cfg.SearchPatients == nil {
		return nil, nil
	}
	found, err := s.cfg.SearchPatients(ctx, url.Values{"name": {q}, "_count": {"20"}})
	if err != nil {
		return nil, err
	}
	out := make([]patientChoice, 0, len(found))
	for _, res := range found {
		var p patientDoc
		if json.Unmarshal(res.JSON, &p) != nil {
			continue
		}
		out = append(out, patientChoice{ID: res.ID, Name: p.label(), BirthDate: p.BirthDate})
	}
	return out, nil
}
