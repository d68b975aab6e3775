package oauth

import (
	"fmt"
	"slices"
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

// required is the level a client's user tokens need: the server's, raised
// by the client's own.
func (s *Server) required(client *Client) string {
	want := s.cfg.RequireACR
	if client != nil && acrRank(client.RequireACR) > acrRank(want) {
		want = client.RequireACR
	}
	return want
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
