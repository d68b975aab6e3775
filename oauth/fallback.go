package oauth

import "slices"

// AMRSMS and AMREmail are the amr values (RFC 8176) of a second factor
// that was a one-time code sent by text message ("sms") or by email
// ("mca", multiple-channel authentication). Such a code is a fallback:
// enough for a routine sign-in, never strong (StrongAuthentication).
const (
	AMRSMS   = "sms"
	AMREmail = "mca"
)

// fallbackAMR tells whether a sign-in's second factor was a code sent by
// text message or email.
func fallbackAMR(amr []string) bool {
	return slices.Contains(amr, AMRSMS) || slices.Contains(amr, AMREmail)
}
