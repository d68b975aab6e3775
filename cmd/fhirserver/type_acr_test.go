package main

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// TestLevelByResourceType: with --require-acr-for DocumentReference=
// phishing-resistant, an app asking for documents (or for every type)
// needs a passkey, while one asking for observations gets two factors'
// worth; the flag refuses what is not a type and a password level.
func TestLevelByResourceType(t *testing.T) {
	s := startSMARTWith(t, func(c *Config) {
		c.TypeACR = map[string]string{"DocumentReference": oauth.ACRPhishingResistant}
	})
	verifier := oauth2.GenerateVerifier()

	for _, c := range []struct {
		scope   string
		passkey bool
	}{
		{"launch/patient patient/Observation.rs", false},
		{"launch/patient patient/DocumentReference.rs", true},
		{"launch/patient patient/*.rs", true},
		{"launch/patient patient/Observation.rs patient/DocumentReference.r", true},
	} {
		t.Run(c.scope, func(t *testing.T) {
			conf := s.oauthConfig(c.scope)
			resp, body := signIn(t, browser(t), s.launchURL(conf, verifier), "ann", "correct horse battery")
			asked := resp.StatusCode == http.StatusForbidden && strings.Contains(body, "needs a passkey")
			offered := strings.Contains(body, "Allow Test app")
			if c.passkey && (!asked || offered) {
				t.Errorf("two factors without a passkey for %q: %d\n%s", c.scope, resp.StatusCode, body)
			}
			if !c.passkey && (asked || !offered) {
				t.Errorf("%q was not offered after two factors: %d\n%s", c.scope, resp.StatusCode, body)
			}
		})
	}

	t.Run("the flag", func(t *testing.T) {
		cfg, _, err := parseConfig("serve", []string{"--require-acr-for", "DocumentReference=" + oauth.ACRPhishingResistant,
			"--require-acr-for", "Binary=" + oauth.ACRPhishingResistant})
		if err != nil || len(cfg.TypeACR) != 2 || cfg.TypeACR["Binary"] != oauth.ACRPhishingResistant {
			t.Errorf("parsed %v, %v", cfg.TypeACR, err)
		}
		for _, bad := range []string{"DocumentReference", "Nope!=" + oauth.ACRTwoFactor, "*=" + oauth.ACRTwoFactor,
			"DocumentReference=" + oauth.ACRPassword, "DocumentReference="} {
			if _, _, err := parseConfig("serve", []string{"--require-acr-for", bad}); err == nil {
				t.Errorf("--require-acr-for %q accepted", bad)
			}
		}
	})
}
