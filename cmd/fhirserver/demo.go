package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// Demo app and accounts, created by --demo.
const (
	demoClientID    = "demo-app"
	demoRedirectURI = "http://localhost:8000/callback"
	demoLaunchURI   = "http://localhost:8000/launch"
	demoScopes      = "launch launch/patient openid fhirUser profile offline_access online_access " +
		"patient/*.rs patient/*.read patient/*.cruds user/*.rs user/*.read user/*.cruds"
)

type demoUser struct {
	Username, Role, FHIRUser, Password string
	// TOTP is the authenticator app's otpauth:// URI; Codes a few of the
	// account's recovery codes. Demo accounts only: every user token
	// needs a second factor, and a demo must be usable by hand.
	TOTP  string
	Codes []string
}

// demoCodesShown is how many recovery codes the banner prints per user.
const demoCodesShown = 3

// demoAccess registers the demo app and the demo users (a patient, their
// caregiver, an oncologist, a nurse, front desk and billing) with fresh
// random passwords at every start, and prints them.
func (m *Main) demoAccess(ctx context.Context, out io.Writer) error {
	patients, err := m.Store.Search(ctx, fhir.Query{Type: "Patient", Limit: 1})
	if err != nil {
		return err
	}
	if len(patients) == 0 {
		return errors.New("no demo patient")
	}
	pid := patients[0].ID
	rp, err := m.ensureResource(ctx, "RelatedPerson", "demo-caregiver", fmt.Sprintf(
		`{"resourceType":"RelatedPerson","id":"demo-caregiver","active":true,"patient":{"reference":"Patient/%s"},`+
			`"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"SPS","display":"spouse"}]}],`+
			`"name":[{"family":"Rivera","given":["Sam"]}]}`, pid))
	if err != nil {
		return err
	}
	pr, err := m.ensureResource(ctx, "Practitioner", "demo-oncologist",
		`{"resourceType":"Practitioner","id":"demo-oncologist","active":true,"name":[{"family":"Okafor","given":["Ada"],"prefix":["Dr."]}]}`)
	if err != nil {
		return err
	}
	users := []demoUser{
		{Username: "patient", Role: "patient", FHIRUser: "Patient/" + pid},
		{Username: "caregiver", Role: "proxy", FHIRUser: rp},
		{Username: "oncologist", Role: "oncologist", FHIRUser: pr},
		{Username: "nurse", Role: "nurse"},
		{Username: "frontdesk", Role: "front-desk"},
		{Username: "billing", Role: "billing"},
	}
	accounts := m.OAuth.Accounts()
	for i := range users {
		u := &users[i]
		u.Password = demoPassword()
		_, err := accounts.Add(ctx, u.Username, u.Role, u.FHIRUser, u.Password)
		if errors.Is(err, oauth.ErrAccountExists) {
			err = accounts.SetPassword(ctx, u.Username, u.Password)
		}
		if err != nil {
			return fmt.Errorf("demo user %s: %w", u.Username, err)
		}
		if u.TOTP, err = accounts.EnrollTOTP(ctx, u.Username); err != nil {
			return fmt.Errorf("demo user %s: %w", u.Username, err)
		}
		codes, err := accounts.NewRecoveryCodes(ctx, u.Username)
		if err != nil {
			return fmt.Errorf("demo user %s: %w", u.Username, err)
		}
		u.Codes = codes[:demoCodesShown]
	}
	_, err = m.OAuth.Clients().Add(ctx, &oauth.Client{ID: demoClientID, Name: "Demo app", Type: oauth.ClientPublic,
		RedirectURIs: []string{demoRedirectURI}, LaunchURI: demoLaunchURI, Scopes: strings.Fields(demoScopes)})
	if err != nil && !errors.Is(err, oauth.ErrClientExists) {
		return fmt.Errorf("demo client: %w", err)
	}
	fmt.Fprintln(out, "\n*** DEMO MODE: synthetic data only; never use this server for real patient data. ***")
	fmt.Fprintf(out, "Demo app: client_id %s (public), redirect URI %s, launch URI %s\n", demoClientID, demoRedirectURI, demoLaunchURI)
	fmt.Fprintln(out, "Demo users (passwords, authenticator secrets and recovery codes are new at every start;")
	fmt.Fprintln(out, "every sign-in needs the password and then a code from the authenticator app or a recovery code):")
	for _, u := range users {
		fmt.Fprintf(out, "  %-11s %-11s %s  %s\n", u.Username, u.Role, u.Password, u.FHIRUser)
		fmt.Fprintf(out, "      authenticator app: %s\n", u.TOTP)
		fmt.Fprintf(out, "      recovery codes: %s\n", strings.Join(u.Codes, " "))
	}
	return nil
}

// demoPassword is 80 random bits, URL-safe.
func demoPassword() string {
	return oauth.NewSecret(10)
}

// ensureResource creates a resource with a fixed id unless it exists; it
// returns its relative reference.
func (m *Main) ensureResource(ctx context.Context, typ, id, body string) (string, error) {
	if _, err := m.Store.Read(ctx, typ, id); err == nil {
		return typ + "/" + id, nil
	}
	status, resp := m.do(ctx, http.MethodPut, "/fhir/"+typ+"/"+id, []byte(body))
	if status != http.StatusCreated && status != http.StatusOK {
		var oo json.RawMessage = resp
		return "", fmt.Errorf("create %s/%s: %d %s", typ, id, status, diagnostics(oo))
	}
	return typ + "/" + id, nil
}

// The PKCE pair of RFC 7636, appendix B: fine for trying the demo by
// hand, never for an app.
const (
	demoVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	demoChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// demoAuthorizeURL is a standalone launch of the demo app.
func demoAuthorizeURL(cfg Config) string {
	q := url.Values{"response_type": {"code"}, "client_id": {demoClientID}, "redirect_uri": {demoRedirectURI},
		"scope": {"launch/patient openid fhirUser offline_access patient/*.rs"}, "state": {"demo-state-1"},
		"aud": {cfg.FHIRBase()}, "code_challenge": {demoChallenge}, "code_challenge_method": {"S256"}}
	return strings.TrimRight(cfg.BaseURL, "/") + "/oauth/authorize?" + q.Encode()
}

// demoHints prints how to try the demo server by hand.
func demoHints(out io.Writer, cfg Config) {
	b := cfg.FHIRBase()
	fmt.Fprintf(out, `Try:
  curl %s/metadata
  curl %s/.well-known/smart-configuration
Every other request needs a token. Get one as the demo patient:
  1. open %s
  2. sign in as "patient" with the password above; when asked for a code, add the
     "authenticator app" URI above to an authenticator app (or compute the code with
     oathtool --totp -b SECRET) and type its code, or type one of the recovery codes;
     then press Allow;
  3. the browser goes to %s?code=...: copy the code (nothing listens there), then
     curl -s %s/oauth/token -d grant_type=authorization_code -d client_id=%s \
       -d redirect_uri=%s -d code_verifier=%s -d code=CODE
  4. curl -H "Authorization: Bearer ACCESS_TOKEN" '%s/Observation?_count=5'

`, b, b, demoAuthorizeURL(cfg), demoRedirectURI, strings.TrimRight(cfg.BaseURL, "/"), demoClientID, demoRedirectURI, demoVerifier, b)
}
