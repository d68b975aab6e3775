package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// launchURL starts a standalone launch of conf's client.
func (s *smartServer) launchURL(conf *oauth2.Config, verifier string, extra ...oauth2.AuthCodeOption) string {
	return conf.AuthCodeURL("state-12345678", append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", s.base+"/fhir")}, extra...)...)
}

// TestNoUserTokenWithAPasswordAlone: no path gives a user a code or a
// token for a password alone: not the authorization flow (its page nor
// its form posted directly), not a code or refresh token of a grant
// signed in to with a password alone, and a client that requires a
// passkey refuses a password and an authenticator code.
func TestNoUserTokenWithAPasswordAlone(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	if _, err := s.OAuth.Accounts().Add(ctx, "pam", "patient", "Patient/pat-b", "password only pam"); err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig("launch/patient openid fhirUser offline_access patient/*.rs")
	verifier := oauth2.GenerateVerifier()

	t.Run("an account without a second factor gets no code", func(t *testing.T) {
		b := browser(t)
		resp, body := signIn(t, b, s.launchURL(conf, verifier), "pam", "password only pam")
		if strings.Contains(body, "Allow Test app") || resp.Request.URL.Query().Get("code") != "" {
			t.Fatalf("a password alone reached the authorization page: %d\n%s", resp.StatusCode, body)
		}
		// It is taken to enrollment; the grant form posted straight to
		// the flow still gives no code.
		if resp.Request.URL.Path != "/oauth/enroll" {
			t.Errorf("not taken to enrollment: %s", resp.Request.URL)
		}
		flow := s.base + resp.Request.URL.Query().Get("next")
		if !strings.Contains(flow, "/oauth/flow/") {
			t.Fatalf("not from a flow: %s", resp.Request.URL)
		}
		page, err := b.Get(s.base + "/oauth/signed-in") // this browser's form token
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.PostForm(flow, url.Values{"csrf": {pageCSRF(t, readAll(t, page))}, "action": {"grant"}, "scope": {"patient/*.rs"}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, r)
		if loc, _ := r.Location(); loc != nil && loc.Query().Get("code") != "" {
			t.Errorf("the grant form gave a code to a password-only session: %s", loc)
		}
	})

	t.Run("a code or refresh token of a password-only grant is refused", func(t *testing.T) {
		tok := s.launch(t, "launch/patient openid offline_access patient/*.rs")
		b := browser(t)
		v := oauth2.GenerateVerifier()
		loc := authorizeApp(t, b, s.launchURL(conf, v), []string{"patient/*.rs"})
		downgradeGrants(t, s.Main)
		if _, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v)); err == nil {
			t.Error("a password-only code was exchanged for tokens")
		}
		status, body, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, nil)
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("refresh of a password-only grant: %d %v", status, body)
		}
	})

	t.Run("a client requiring a passkey refuses the authenticator app", func(t *testing.T) {
		mustCLI(t, "", "client", "add", "--data", s.Config.DataDir, "--id", "strict", "--type", "public", "--name", "Strict app",
			"--redirect-uri", appRedirect, "--scope", "launch/patient patient/*.rs", "--require-acr", oauth.ACRPhishingResistant)
		strict := s.oauthConfig("launch/patient patient/*.rs")
		strict.ClientID = "strict"
		resp, body := signIn(t, browser(t), s.launchURL(strict, verifier), "ann", "correct horse battery")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "needs a passkey") || strings.Contains(body, "Allow Strict app") {
			t.Errorf("two factors without a passkey for a passkey-only app: %d\n%s", resp.StatusCode, body)
		}
		if list := mustCLI(t, "", "client", "list", "--data", s.Config.DataDir); !strings.Contains(list, oauth.ACRPhishingResistant) {
			t.Errorf("client list does not show the level:\n%s", list)
		}
	})

	t.Run("a password alone cannot be configured", func(t *testing.T) {
		if _, _, err := parseConfig("serve", []string{"--require-acr", oauth.ACRPassword}); err == nil {
			t.Error("--require-acr password was accepted")
		}
		if out, err := cli(t, "", "client", "add", "--data", s.Config.DataDir, "--id", "lax", "--type", "public",
			"--redirect-uri", appRedirect, "--require-acr", oauth.ACRPassword); err == nil {
			t.Errorf("client add --require-acr password was accepted: %s", out)
		}
		cfg := testConfig(t.TempDir())
		cfg.RequireACR = oauth.ACRPassword
		m := &Main{Config: cfg, Logger: quiet()}
		if err := m.Open(ctx); err == nil {
			t.Error("a server requiring a password alone opened")
		}
		if m.Store != nil {
			m.Store.Close()
		}
	})

	t.Run("backend services are not user sign-ins", func(t *testing.T) {
		if tok := systemToken(t, s.Main); tok == "" {
			t.Error("no backend token")
		}
	})
}
