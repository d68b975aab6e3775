package oauth

import (
	"fmt"
	"slices"

	"github.com/oncofhir/oncofhir/oauth/scope"
)

// Authentication levels. Every user token needs at least two factors: the
// server's level (Config.RequireACR) is two factors or phishing-resistant,
// never a password alone, and a client's own level (Client.RequireACR)
// may only raise it. A session below the level is asked for what it lacks
// before any code is issued: the authenticator code, a passkey, or, for an
// account with no second factor yet, enrollment.

// AMRTrustedDevice marks, in amr, a sign-in whose second factor was a
// device the user trusted earlier (a password on that device): enough for
// routine sign-ins (acr two factors), never for step-up.
const AMRTrustedDevice = "x-trusted-device"

// acrRank orders the acr values; unknown values rank 0.
func acrRank(acr string) int {
	switch acr {
	case ACRPassword:
		return 1
	case ACRTwoFactor:
		return 2
	case ACRPhishingResistant:
		return 3
	}
	return 0
}

// checkRequireACR accepts a level a server or a client may require: two
// factors or phishing-resistant ("" is the default).
func checkRequireACR(acr string) error {
	if acr == "" || acr == ACRTwoFactor || acr == ACRPhishingResistant {
		return nil
	}
	return fmt.Errorf("require-acr %q: use %s or %s (a password alone never yields a user token)", acr, ACRTwoFactor, ACRPhishingResistant)
}

// required is the level a client's user tokens with these scopes need:
// the server's, raised by the client's own and by the level of each
// resource type the scopes reach (Config.TypeACR; a wildcard scope
// reaches every type).
func (s *Server) required(client *Client, scopes []string) string {
	want := s.cfg.RequireACR
	if client != nil && acrRank(client.RequireACR) > acrRank(want) {
		want = client.RequireACR
	}
	if len(s.cfg.TypeACR) == 0 {
		return want
	}
	for _, raw := range scopes {
		sc, err := scope.Parse(raw)
		if err != nil || !sc.IsResource() {
			continue
		}
		for typ, acr := range s.cfg.TypeACR {
			if (sc.Type == typ || sc.Type == "*") && acrRank(acr) > acrRank(want) {
				want = acr
			}
		}
	}
	return want
}

// CheckTypeACR accepts the levels resource types may require
// (Config.TypeACR): a type name and two factors or phishing-resistant.
func CheckTypeACR(levels map[string]string) error {
	for typ, acr := range levels {
		if _, err := scope.Parse("patient/" + typ + ".r"); err != nil || typ == "*" {
			return fmt.Errorf("require-acr-for %q: not a resource type", typ)
		}
		if acr == "" {
			return fmt.Errorf("require-acr-for %s: no level given", typ)
		}
		if err := checkRequireACR(acr); err != nil {
			return err
		}
	}
	return nil
}

// meets tells whether a sign-in (acr, amr) reaches level want for a
// routine authorization: a trusted device stands in for the second
// factor here.
func meets(acr string, want string) bool {
	return acrRank(acr) >= acrRank(want) && acrRank(acr) > 0
}

// StrongAuthentication tells whether a sign-in proved two factors in
// person: acr two factors or phishing-resistant, with no trusted device
// and no code sent by text message or email (fallback.go) standing in
// for the second factor. Step-up asks for it.
func StrongAuthentication(acr string, amr []string) bool {
	return acrRank(acr) >= acrRank(ACRTwoFactor) && !slices.Contains(amr, AMRTrustedDevice) && !fallbackAMR(amr)
}

// effectiveACR is the level a sign-in counts for: a trusted device's
// two factors, or a fallback code's, count as a password alone when the
// app asks for a fresh or stronger sign-in (prompt=login, max_age,
// acr_values: step-up).
func effectiveACR(login *Login, stepUp bool) string {
	if stepUp && (slices.Contains(login.AMR, AMRTrustedDevice) || fallbackAMR(login.AMR)) {
		return ACRPassword
	}
	return login.ACR
}
