package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth/scope"
)

const (
	kindFlow   = "oauth.flow"
	kindLaunch = "oauth.launch"
	flowLife   = 15 * time.Minute
)

// flow is an authorization in progress: the app's request, kept server
// side while the user passes the login pipeline's steps (sign in, later
// second factors, the patient picker, the authorization page).
type flow struct {
	Form      url.Values `json:"form"`
	Client    string     `json:"client"`
	Browser   string     `json:"browser"` // hash of the browser's CSRF cookie
	Account   string     `json:"account,omitempty"`
	Patient   string     `json:"patient,omitempty"`
	Encounter string     `json:"encounter,omitempty"`
	EHR       bool       `json:"ehr,omitempty"`      // the launch came from an EHR session
	LaunchBy  string     `json:"launchBy,omitempty"` // account that created the EHR launch
	Created   time.Time  `json:"created"`            // when the app's request came
	id        string
	rev       int64
}

// launchContext is what an EHR launch binds to an authorize request.
type launchContext struct {
	Client    string `json:"client"`
	Account   string `json:"account"`
	Patient   string `json:"patient"`
	Encounter string `json:"encounter,omitempty"`
}

// authorize is the authorization endpoint (GET and POST). It validates
// the request with fosite and SMART's own rules, keeps it as a flow and
// sends the browser through the pipeline.
func (s *Server) authorize(c echo.Context) error {
	ctx, r, w := c.Request().Context(), c.Request(), c.Response()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return nil
	}
	if err := s.smartChecks(ar); err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return nil
	}
	f := &flow{Form: r.Form, Client: ar.GetClient().GetID(), Created: s.now().UTC()}
	if l := r.Form.Get("launch"); l != "" {
		lc, err := s.loadLaunch(ctx, l)
		if err != nil || lc.Client != f.Client {
			s.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The launch parameter is unknown or expired."))
			return nil
		}
		f.EHR, f.LaunchBy, f.Patient, f.Encounter = true, lc.Account, lc.Patient, lc.Encounter
	}
	s.csrfToken(c)
	ck, _ := c.Cookie(csrfCookie)
	f.Browser = hashKey(ck.Value)
	f.id = randomToken(24)
	if err := s.saveFlow(ctx, f); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/oauth/flow/"+f.id)
}

// smartChecks are what fosite does not check: aud must be this FHIR
// server, PKCE must be S256 (fosite only refuses plain when a challenge
// is sent), and scopes this server does not know are refused early.
func (s *Server) smartChecks(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	aud := form.Get("aud")
	if aud == "" {
		aud = form.Get("resource")
	}
	if strings.TrimRight(aud, "/") != s.base {
		return fosite.ErrInvalidRequest.WithHint("aud must be this server's FHIR base URL.")
	}
	if form.Get("code_challenge") == "" || form.Get("code_challenge_method") != "S256" {
		return fosite.ErrInvalidRequest.WithHint("PKCE with code_challenge_method S256 is required.")
	}
	return nil
}

func (s *Server) saveFlow(ctx context.Context, f *flow) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	r := &fhir.Record{Kind: kindFlow, Key: f.id, Data: data, Expires: s.now().Add(flowLife), Rev: f.rev}
	if err := s.cfg.Records.PutRecord(ctx, r); err != nil {
		return err
	}
	f.rev = r.Rev
	return nil
}

// loadFlow returns the flow if this browser started it.
func (s *Server) loadFlow(c echo.Context) (*flow, error) {
	id := c.Param("id")
	r, err := s.cfg.Records.GetRecord(c.Request().Context(), kindFlow, id)
	if err != nil {
		return nil, err
	}
	var f flow
	if err := json.Unmarshal(r.Data, &f); err != nil {
		return nil, err
	}
	f.id, f.rev = id, r.Rev
	ck, err := c.Cookie(csrfCookie)
	if err != nil || hashKey(ck.Value) != f.Browser {
		return nil, fhir.ErrNotFound
	}
	return &f, nil
}

// flowStep shows the next page of the pipeline, or finishes.
func (s *Server) flowStep(c echo.Context) error {
	f, err := s.loadFlow(c)
	if err != nil {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This sign-in link has expired",
			Message: "Go back to the app and start again."})
	}
	return s.advance(c, f)
}

// journey is what the pipeline's steps share about one authorization.
type journey struct {
	flow      *flow
	login     *Login
	acct      *Account
	client    *Client
	requested []string // the scopes the account may grant
}

// A step of the login pipeline either answers (its page, a redirect) and
// stops the walk, or passes to the next step. Second factors and step-up
// take their place after sign-in; no code is issued until every step has
// passed (finish runs only from the last one's form).
type step struct {
	name string
	run  func(s *Server, c echo.Context, j *journey) (answered bool, err error)
}

var pipeline = []step{
	{"sign in", (*Server).signInStep},
	{"launch owner", (*Server).launchOwnerStep},
	{"patient", (*Server).patientStep},
	{"authorize app", (*Server).authorizeStep},
}

// advance walks the pipeline until a step answers.
func (s *Server) advance(c echo.Context, f *flow) error {
	j := &journey{flow: f}
	for _, st := range pipeline {
		answered, err := st.run(s, c, j)
		if err != nil {
			return fmt.Errorf("oauth: %s: %w", st.name, err)
		}
		if answered {
			return nil
		}
	}
	return errors.New("oauth: the pipeline ended without an answer")
}

func (s *Server) toLogin(c echo.Context, f *flow) (bool, error) {
	return true, c.Redirect(http.StatusSeeOther, "/oauth/login?next="+url.QueryEscape("/oauth/flow/"+f.id))
}

// toPasskey sends the browser to sign in again, asking for a passkey.
func (s *Server) toPasskey(c echo.Context, f *flow) (bool, error) {
	return true, c.Redirect(http.StatusSeeOther, "/oauth/login?passkey=1&next="+url.QueryEscape("/oauth/flow/"+f.id))
}

// signInStep needs a live sign-in session of an active account, the same
// account all along the flow.
func (s *Server) signInStep(c echo.Context, j *journey) (bool, error) {
	ctx, f := c.Request().Context(), j.flow
	login, err := s.logins.current(c)
	if err != nil {
		return false, err
	}
	if login == nil || (f.Account != "" && login.Account != f.Account) {
		return s.toLogin(c, f)
	}
	acct, err := s.accounts.Get(ctx, login.Account)
	if err != nil || acct.Disabled {
		s.logins.end(c)
		return s.toLogin(c, f)
	}
	if f.Account == "" {
		f.Account = acct.ID
		if err := s.saveFlow(ctx, f); err != nil {
			return false, err
		}
	}
	client, err := s.clients.Get(ctx, f.Client)
	if err != nil {
		return true, s.page(c, http.StatusBadRequest, "error", pageData{Title: "This app is no longer registered"})
	}
	// Whether the account has a passkey, asked once if needed. Not
	// knowing fails the authorization: taken for "none", it would lower
	// a passkey requirement to two factors.
	var passkey *bool
	hasPasskey := func() (bool, error) {
		if passkey == nil {
			has, err := s.passkeys.has(ctx, acct.ID)
			if err != nil {
				return false, fmt.Errorf("read passkeys: %w", err)
			}
			passkey = &has
		}
		return *passkey, nil
	}
	if !recentEnough(f, login) {
		return s.toLogin(c, f)
	}
	// The level this authorization needs: the server's, the client's,
	// and what the app asks for (acr_values). A trusted device counts as
	// a second factor only when the app asks for nothing more.
	required := s.required(client, strings.Fields(f.Form.Get("scope")))
	want := required
	for _, v := range strings.Fields(f.Form.Get("acr_values")) {
		if acrRank(v) > acrRank(want) {
			want = v
		}
	}
	have := effectiveACR(login, asksStepUp(f.Form))
	if want == ACRPhishingResistant && required != ACRPhishingResistant && !meets(have, want) {
		has, err := hasPasskey()
		if err != nil {
			return false, err
		}
		if !has {
			// Asked for a passkey by an app, by an account without one:
			// the strongest factor it has.
			want = ACRTwoFactor
		}
	}
	if !meets(have, want) {
		return s.askMissingFactor(c, f, login, acct, want, hasPasskey)
	}
	j.login, j.acct, j.client = login, acct, client
	j.requested = s.offered(acct, strings.Fields(f.Form.Get("scope")))
	return false, nil
}

// launchOwnerStep: an EHR launch is used only by the user who made it.
func (s *Server) launchOwnerStep(c echo.Context, j *journey) (bool, error) {
	if j.flow.EHR && j.flow.LaunchBy != j.acct.ID {
		return true, s.page(c, http.StatusForbidden, "error", pageData{Title: "This launch belongs to someone else",
			Message: "Start the app again from your own session."})
	}
	return false, nil
}

// patientStep sets the patient in context when the scopes need one: a
// patient's own record, a caregiver's patient, or the picker.
func (s *Server) patientStep(c echo.Context, j *journey) (bool, error) {
	ctx, f, acct := c.Request().Context(), j.flow, j.acct
	if f.Patient != "" || !needsPatient(j.requested) {
		return false, nil
	}
	switch acct.Role {
	case "patient":
		f.Patient = strings.TrimPrefix(acct.FHIRUser, "Patient/")
	case "proxy":
		ids, err := s.proxyPatients(ctx, acct)
		if err != nil {
			return false, err
		}
		if len(ids) != 1 {
			return true, s.pickerPage(c, f, acct, ids)
		}
		f.Patient = ids[0]
	default:
		return true, s.pickerPage(c, f, acct, nil)
	}
	return false, s.saveFlow(ctx, f)
}

// authorizeStep shows the authorization page; its form finishes the flow.
func (s *Server) authorizeStep(c echo.Context, j *journey) (bool, error) {
	return true, s.consentPage(c, j.flow, j.client, j.requested)
}

// offered are the requested scopes the account may grant: known scopes
// only; system scopes never through a browser; user scopes only for
// staff (a patient or proxy reaches records through patient context).
func (s *Server) offered(acct *Account, requested []string) []string {
	var out []string
	for _, raw := range requested {
		sc, err := scope.Parse(raw)
		if err != nil {
			continue
		}
		if p, ok := sc.Permission(); ok {
			if p.Level == "system" || (p.Level == "user" && !acct.Staff()) {
				continue
			}
		}
		out = append(out, raw)
	}
	return out
}

func needsPatient(scopes []string) bool {
	for _, raw := range scopes {
		if raw == "launch/patient" || strings.HasPrefix(raw, "patient/") {
			return true
		}
	}
	return false
}

// proxyPatients are the patients a caregiver may act for: for now the
// patient of the caregiver's RelatedPerson, while it is active (Consent
// adds more later).
func (s *Server) proxyPatients(ctx context.Context, acct *Account) ([]string, error) {
	pid, err := s.proxyPatient(ctx, acct.FHIRUser)
	if err != nil || pid == "" {
		return nil, err
	}
	return []string{pid}, nil
}

// proxyPatient reads the patient a RelatedPerson links to ("" when none,
// or when the RelatedPerson is gone or inactive).
func (s *Server) proxyPatient(ctx context.Context, ref string) (string, error) {
	typ, id, _ := strings.Cut(ref, "/")
	if typ != "RelatedPerson" || !fhir.ValidID(id) {
		return "", nil
	}
	res, err := s.cfg.Store.Read(ctx, typ, id)
	if errors.Is(err, fhir.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if res.Deleted {
		return "", nil
	}
	var rp struct {
		Active  *bool                      `json:"active"`
		Patient struct{ Reference string } `json:"patient"`
	}
	if err := json.Unmarshal(res.JSON, &rp); err != nil || (rp.Active != nil && !*rp.Active) {
		return "", nil
	}
	if pid, ok := strings.CutPrefix(rp.Patient.Reference, "Patient/"); ok && fhir.ValidID(pid) {
		return pid, nil
	}
	return "", nil
}

// proxyLinked tells whether a caregiver's RelatedPerson still links them
// to the patient.
func (s *Server) proxyLinked(ctx context.Context, ref, patient string) (bool, error) {
	pid, err := s.proxyPatient(ctx, ref)
	return err == nil && pid == patient, err
}

// flowPost handles the pipeline's forms: the patient picked, the scopes
// granted, or the request denied.
func (s *Server) flowPost(c echo.Context) error {
	f, err := s.loadFlow(c)
	if err != nil || !s.checkCSRF(c) {
		return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This form has expired",
			Message: "Go back to the app and start again."})
	}
	action := c.FormValue("action")
	// Every step before the one whose form this is must still pass: a
	// form cannot skip the sign-in, the launch owner or the patient.
	last := "authorize app"
	if action == "pick" {
		last = "patient"
	}
	j := &journey{flow: f}
	for _, st := range pipeline {
		if st.name == last {
			break
		}
		answered, err := st.run(s, c, j)
		if err != nil {
			return fmt.Errorf("oauth: %s: %w", st.name, err)
		}
		if answered {
			return nil
		}
	}
	switch action {
	case "pick":
		return s.pick(c, f, j.acct)
	case "deny":
		return s.finish(c, f, j.login, j.acct, nil, true)
	case "grant":
		kept := map[string]bool{}
		for _, v := range c.Request().PostForm["scope"] {
			kept[v] = true
		}
		var granted []string
		for _, raw := range j.requested {
			if kept[raw] || !choosable(raw) {
				granted = append(granted, raw)
			}
		}
		return s.finish(c, f, j.login, j.acct, granted, false)
	}
	return s.advance(c, f)
}

// choosable scopes get a checkbox; the others (identity and launch
// context) come with any grant.
func choosable(raw string) bool {
	switch raw {
	case "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter":
		return false
	}
	return true
}

// finish turns the flow into fosite's authorization response: a code on
// the app's redirect URI, or access_denied.
func (s *Server) finish(c echo.Context, f *flow, login *Login, acct *Account, granted []string, denied bool) error {
	ctx := c.Request().Context()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/oauth/authorize?"+f.Form.Encode(), nil)
	if err != nil {
		return err
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, req)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, c.Response(), ar, err)
		return nil
	}
	_ = s.cfg.Records.DeleteRecord(ctx, kindFlow, f.id)
	if l := f.Form.Get("launch"); l != "" {
		_ = s.cfg.Records.DeleteRecord(ctx, kindLaunch, l)
	}
	if denied {
		s.provider.WriteAuthorizeError(ctx, c.Response(), ar, fosite.ErrAccessDenied.WithHint("The user did not allow access."))
		return nil
	}
	if client, err := s.clients.Get(ctx, f.Client); err != nil || !meets(login.ACR, s.required(client, granted)) {
		// The pipeline asks for the missing factor first; this is the
		// last guard before a code exists.
		s.provider.WriteAuthorizeError(ctx, c.Response(), ar, fosite.ErrAccessDenied.WithHint("The sign-in does not meet the level this app requires."))
		return nil
	}
	if needsPatient(granted) && f.Patient == "" {
		s.provider.WriteAuthorizeError(ctx, c.Response(), ar, fosite.ErrAccessDenied.WithHint("No patient record is available to this user."))
		return nil
	}
	for _, g := range granted {
		ar.GrantScope(g)
	}
	now := s.now().UTC()
	sess := newSession()
	sess.Subject = acct.ID
	sess.Account, sess.Roles, sess.Issuer = acct.ID, []string{acct.Role}, s.issuer
	sess.ACR, sess.AMR, sess.AuthTime, sess.Login = login.ACR, login.AMR, login.AuthTime, login.key
	if acct.Role == "proxy" {
		sess.Proxy = acct.FHIRUser
	}
	if needsPatient(granted) {
		sess.Patient = f.Patient
		sess.Banner = !f.EHR
	}
	sess.Encounter = f.Encounter
	if ar.GetGrantedScopes().Has("fhirUser") && acct.FHIRUser != "" {
		sess.FHIRUser = acct.FHIRUser
	}
	extra := map[string]any{}
	if sess.FHIRUser != "" {
		extra["fhirUser"] = s.base + "/" + sess.FHIRUser
	}
	sess.Claims = &jwt.IDTokenClaims{
		Subject: acct.ID, Issuer: s.issuer, IssuedAt: now, RequestedAt: requestedAt(f, now), AuthTime: login.AuthTime,
		AuthenticationContextClassReference: login.ACR, AuthenticationMethodsReferences: login.AMR,
		Extra: extra,
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, c.Response(), ar, err)
		return nil
	}
	s.provider.WriteAuthorizeResponse(ctx, c.Response(), ar, resp)
	return nil
}

func (s *Server) loadLaunch(ctx context.Context, id string) (*launchContext, error) {
	r, err := s.cfg.Records.GetRecord(ctx, kindLaunch, id)
	if err != nil {
		return nil, err
	}
	var lc launchContext
	return &lc, json.Unmarshal(r.Data, &lc)
}

// recentEnough tells whether the sign-in session is recent enough for
// what the app asked: prompt=login and max_age want a sign-in made after
// the request (or within max_age seconds of it). False sends the user to
// sign in again.
func recentEnough(f *flow, login *Login) bool {
	created := f.Created
	if created.IsZero() {
		return true
	}
	form := f.Form
	for _, p := range strings.Fields(form.Get("prompt")) {
		if p == "login" && login.AuthTime.Before(created.Truncate(time.Second)) {
			return false
		}
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 &&
			login.AuthTime.Before(created.Truncate(time.Second).Add(-time.Duration(n)*time.Second)) {
			return false
		}
	}
	return true
}

// asksStepUp tells whether the app asked for a fresh or stronger sign-in
// (prompt=login, max_age, acr_values): then a trusted device does not
// stand in for the second factor.
func asksStepUp(form url.Values) bool {
	return slices.Contains(strings.Fields(form.Get("prompt")), "login") || form.Get("max_age") != "" || form.Get("acr_values") != ""
}

// askMissingFactor asks a signed-in user for what the authorization
// lacks: a passkey when it must be one (or is the only second factor
// the account has), else the authenticator or recovery code; an account
// with no second factor is told to set one up. A passkey sign-in is
// both phishing-resistant and two factors in one (the device, unlocked by
// the user).
func (s *Server) askMissingFactor(c echo.Context, f *flow, login *Login, acct *Account, want string, hasPasskey func() (bool, error)) (bool, error) {
	if want != ACRPhishingResistant && acct.HasSecondFactor() {
		return true, s.askCode(c, acct, "/oauth/flow/"+f.id, login.key)
	}
	has, err := hasPasskey()
	switch {
	case err != nil:
		return false, err
	case has:
		return s.toPasskey(c, f)
	case want == ACRPhishingResistant:
		return true, s.page(c, http.StatusForbidden, "error", pageData{Title: "This app needs a passkey",
			Message: "It accepts only a sign-in with a passkey: your fingerprint, face or device PIN. Add one on your passkeys page, then try again."})
	}
	return true, s.toEnroll(c, "/oauth/flow/"+f.id)
}

// requestedAt is when the app's authorization request came: what
// prompt=login and max_age are measured against.
func requestedAt(f *flow, now time.Time) time.Time {
	if f.Created.IsZero() {
		return now
	}
	return f.Created.Truncate(time.Second)
}
