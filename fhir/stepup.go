package fhir

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// InsufficientAuthentication is the answer to a request whose token shows
// a sign-in too weak or too old for it (RFC 9470): 401 with a Bearer
// challenge naming the error insufficient_user_authentication, the
// acr_values to ask for and the max_age the sign-in may have. A client
// sends the user through the authorization endpoint with them, and
// retries with the new token. description is plain words, no data.
func InsufficientAuthentication(realm, description, acr string, maxAge time.Duration) *Error {
	return &Error{Code: CodeLogin, Status: http.StatusUnauthorized, Diagnostics: description + " for this request",
		Challenge: fmt.Sprintf(`Bearer realm="%s", error="insufficient_user_authentication", error_description="%s", acr_values="%s", max_age=%d`,
			quoted(realm), quoted(description), quoted(acr), int(maxAge/time.Second))}
}

// quoted keeps a value inside a quoted-string of a challenge.
func quoted(s string) string {
	return strings.NewReplacer(`\`, ``, `"`, ``, "\r", "", "\n", "").Replace(s)
}
