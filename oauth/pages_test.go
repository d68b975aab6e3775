package oauth

import "testing"

// TestSafeNext: after sign-in the browser only ever goes to this
// server's OAuth pages, never to another site.
func TestSafeNext(t *testing.T) {
	const home = "/oauth/signed-in"
	for _, c := range []struct{ name, next, want string }{
		{"a flow step is kept", "/oauth/flow/abc123", "/oauth/flow/abc123"},
		{"an EHR launch with its query is kept", "/oauth/ehr-launch?client=app&patient=p1", "/oauth/ehr-launch?client=app&patient=p1"},
		{"empty → home", "", home},
		{"protocol-relative URL → home", "//evil.example/oauth/", home},
		{"absolute URL → home", "https://evil.example/oauth/flow/x", home},
		{"backslash that browsers read as a slash → home", `/oauth\@evil.example`, home},
		{"backslash after the prefix → home", `/oauth/\evil.example`, home},
		{"a page off the OAuth pages → home", "/fhir/Patient", home},
		{"prefix without its slash → home", "/oauthx/flow", home},
		{"header injection → home", "/oauth/flow/x\r\nSet-Cookie: a=b", home},
		{"javascript: URL → home", "javascript:alert(1)", home},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := safeNext(c.next); got != c.want {
				t.Errorf("safeNext(%q) = %q, want %q", c.next, got, c.want)
			}
		})
	}
}

// TestCSPOrigin: the authorization page lets its form end at the app's
// redirect URI (browsers check form-action on the redirect that follows
// a form), and only there: the origin alone, nothing that could change
// the policy.
func TestCSPOrigin(t *testing.T) {
	for _, c := range []struct{ name, uri, want string }{
		{"an app's redirect URI → its origin", "https://app.example:8443/cb?x=1", "https://app.example:8443"},
		{"a localhost app", "http://localhost:8000/callback", "http://localhost:8000"},
		{"a custom scheme → nothing", "com.example.app:/cb", ""},
		{"a policy injection → nothing", "https://a.example;script-src%20*/cb", ""},
		{"no URI → nothing", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cspOrigin(c.uri); got != c.want {
				t.Errorf("cspOrigin(%q) = %q, want %q", c.uri, got, c.want)
			}
		})
	}
}
