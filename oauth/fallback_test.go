package oauth

import "testing"

// A code by text message or email completes a routine sign-in but is
// never strong: step-up and a fresh sign-in ask for more.
func TestFallbackCodeIsNeverStrong(t *testing.T) {
	for _, tc := range []struct {
		name string
		acr  string
		amr  []string
		want bool
	}{
		{"authenticator app → strong", ACRTwoFactor, []string{"pwd", "otp"}, true},
		{"passkey → strong", ACRPhishingResistant, []string{"hwk", "user"}, true},
		{"code by text message → weak", ACRTwoFactor, []string{"pwd", AMRSMS}, false},
		{"code by email → weak", ACRTwoFactor, []string{"pwd", AMREmail}, false},
		{"password alone → weak", ACRPassword, []string{"pwd"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StrongAuthentication(tc.acr, tc.amr); got != tc.want {
				t.Errorf("StrongAuthentication = %v, want %v", got, tc.want)
			}
		})
	}
	for _, amr := range [][]string{{"pwd", AMRSMS}, {"pwd", AMREmail}} {
		login := &Login{ACR: ACRTwoFactor, AMR: amr}
		if got := effectiveACR(login, false); !meets(got, ACRTwoFactor) {
			t.Errorf("%v: a routine sign-in counts as %s, want two factors", amr, got)
		}
		if got := effectiveACR(login, true); got != ACRPassword {
			t.Errorf("%v: when the app asks for a fresh or stronger sign-in it counts as %s, want a password alone", amr, got)
		}
		if meets(effectiveACR(login, false), ACRPhishingResistant) {
			t.Errorf("%v: meets a client that needs a passkey", amr)
		}
	}
}
