package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/oauth"
)

// call sends one request to the running server and returns the status,
// the raw body and the headers.
func call(t *testing.T, method, u string, header http.Header, body io.Reader) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// getJSON fetches a document with no token and decodes it; it fails the
// test unless the answer is 200 with a Content-Type starting mediaType.
func getJSON(t *testing.T, u string, header http.Header, mediaType string) map[string]any {
	t.Helper()
	status, body, hdr := call(t, http.MethodGet, u, header, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, mediaType) {
		t.Fatalf("GET %s: Content-Type %q, want %s", u, ct, mediaType)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, body)
	}
	return doc
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func missing(have []string, want ...string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

// TestSMARTConfiguration checks the SMART discovery document against the
// App Launch 2.2 conformance page and the Inferno discovery tests.
func TestSMARTConfiguration(t *testing.T) {
	s := startSMART(t)
	doc := getJSON(t, s.base+"/fhir/.well-known/smart-configuration", http.Header{"Accept": {"text/html"}}, "application/json")

	endpoints := []string{"authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri"}
	for _, c := range []struct {
		name string
		bad  func() string // "" when the document passes
	}{
		{"every endpoint is an absolute URL on this server", func() string {
			for _, k := range endpoints {
				v, _ := doc[k].(string)
				u, err := url.Parse(v)
				if err != nil || !u.IsAbs() || !strings.HasPrefix(v, s.base+"/") {
					return k + " = " + v
				}
			}
			return ""
		}},
		{"issuer is the FHIR base (sso-openid-connect needs it)", func() string {
			if doc["issuer"] != s.base+"/fhir" {
				return "issuer = " + doc["issuer"].(string)
			}
			return ""
		}},
		{"code_challenge_methods_supported is exactly S256", func() string {
			if got := stringList(doc["code_challenge_methods_supported"]); !slices.Equal(got, []string{"S256"}) {
				return strings.Join(got, " ")
			}
			return ""
		}},
		{"grant types: authorization_code, client_credentials, refresh_token", func() string {
			return strings.Join(missing(stringList(doc["grant_types_supported"]), "authorization_code", "client_credentials", "refresh_token"), " ")
		}},
		{"token endpoint auth methods: basic, post, private_key_jwt", func() string {
			return strings.Join(missing(stringList(doc["token_endpoint_auth_methods_supported"]), "client_secret_basic", "client_secret_post", "private_key_jwt"), " ")
		}},
		{"asymmetric signing algorithms: RS384 and ES384", func() string {
			return strings.Join(missing(stringList(doc["token_endpoint_auth_signing_alg_values_supported"]), "RS384", "ES384"), " ")
		}},
		{"response type code", func() string {
			return strings.Join(missing(stringList(doc["response_types_supported"]), "code"), " ")
		}},
		{"every capability the server implements is listed", func() string {
			return strings.Join(missing(stringList(doc["capabilities"]),
				"launch-ehr", "launch-standalone", "authorize-post",
				"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
				"sso-openid-connect", "context-banner", "context-style",
				"context-ehr-patient", "context-standalone-patient",
				"permission-offline", "permission-online", "permission-patient", "permission-user",
				"permission-v1", "permission-v2"), " ")
		}},
		{"scopes_supported names the launch and identity scopes", func() string {
			return strings.Join(missing(stringList(doc["scopes_supported"]), "openid", "fhirUser", "launch", "launch/patient", "offline_access"), " ")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if bad := c.bad(); bad != "" {
				t.Errorf("smart-configuration: %s", bad)
			}
		})
	}

	t.Run("the endpoints are the server's own", func(t *testing.T) {
		e := s.OAuth.Endpoints()
		for k, want := range map[string]string{"authorization_endpoint": e.Authorize, "token_endpoint": e.Token,
			"introspection_endpoint": e.Introspect, "revocation_endpoint": e.Revoke, "jwks_uri": e.JWKS} {
			if doc[k] != want {
				t.Errorf("%s = %v, want %s", k, doc[k], want)
			}
		}
		// Each is routed: a bare request is refused by the endpoint, not 404.
		for _, c := range []struct{ method, k string }{
			{http.MethodGet, "authorization_endpoint"}, {http.MethodPost, "token_endpoint"},
			{http.MethodPost, "introspection_endpoint"}, {http.MethodPost, "revocation_endpoint"}, {http.MethodGet, "jwks_uri"},
		} {
			status, body, _ := call(t, c.method, doc[c.k].(string), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(""))
			if status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status >= 500 {
				t.Errorf("%s %s: %d %s", c.method, c.k, status, body)
			}
		}
	})
}

// TestOpenIDConfiguration: the OIDC discovery document is served at the
// issuer (the FHIR base) and at the root, and its JWKS holds the RSA key
// that signs id_tokens.
func TestOpenIDConfiguration(t *testing.T) {
	s := startSMART(t)
	var docs []map[string]any
	for _, path := range []string{"/fhir/.well-known/openid-configuration", "/.well-known/openid-configuration"} {
		t.Run(path, func(t *testing.T) {
			doc := getJSON(t, s.base+path, http.Header{"Accept": {"text/html"}}, "application/json")
			docs = append(docs, doc)
			if doc["issuer"] != s.base+"/fhir" {
				t.Errorf("issuer = %v, want the FHIR base %s/fhir", doc["issuer"], s.base)
			}
			for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
				"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"} {
				if doc[k] == nil {
					t.Errorf("%s missing", k)
				}
			}
			if m := missing(stringList(doc["id_token_signing_alg_values_supported"]), "RS256"); m != nil {
				t.Errorf("id_token_signing_alg_values_supported lacks RS256: %v", doc["id_token_signing_alg_values_supported"])
			}
			if m := missing(stringList(doc["scopes_supported"]), "openid", "fhirUser"); m != nil {
				t.Errorf("scopes_supported lacks %v", m)
			}
			if got := stringList(doc["code_challenge_methods_supported"]); !slices.Equal(got, []string{"S256"}) {
				t.Errorf("code_challenge_methods_supported = %v", got)
			}
		})
	}
	if len(docs) == 2 {
		a, _ := json.Marshal(docs[0])
		b, _ := json.Marshal(docs[1])
		if string(a) != string(b) {
			t.Errorf("the two openid-configuration documents differ:\n%s\n%s", a, b)
		}
	}

	t.Run("JWKS: an RSA signing key with a kid, public parts only", func(t *testing.T) {
		status, body, hdr := call(t, http.MethodGet, s.OAuth.Endpoints().JWKS, nil, nil)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Fatalf("jwks: %d %s", status, hdr.Get("Content-Type"))
		}
		var set struct{ Keys []map[string]any }
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatal(err)
		}
		rsa := 0
		for _, k := range set.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("key %v publishes private member %q", k["kid"], private)
				}
			}
			if k["kty"] == "RSA" && k["kid"] != "" && k["kid"] != nil {
				rsa++
			}
		}
		if rsa == 0 {
			t.Errorf("no RSA key with a kid in %s", body)
		}
	})
}

// TestStyleDocument: smart_style_url (given in every user token response)
// answers 200 JSON without a token (Inferno's EHR practitioner tests).
func TestStyleDocument(t *testing.T) {
	s := startSMART(t)
	tok := s.launch(t, "launch/patient openid fhirUser patient/*.rs")
	styleURL, _ := tok.Extra("smart_style_url").(string)
	if styleURL != s.base+"/oauth/style.json" {
		t.Fatalf("smart_style_url = %q", styleURL)
	}
	doc := getJSON(t, styleURL, http.Header{"Accept": {"text/html"}}, "application/json")
	for _, k := range []string{"color_background", "color_highlight", "font_family_body", "dim_border_radius"} {
		if _, ok := doc[k].(string); !ok {
			t.Errorf("style: %s missing", k)
		}
	}
}

// TestMetadataAdvertisesSMART: the CapabilityStatement, readable without a
// token, names the SMART-on-FHIR service and the same OAuth endpoints as
// the discovery document.
func TestMetadataAdvertisesSMART(t *testing.T) {
	s := startSMART(t)
	cs := getJSON(t, s.base+"/fhir/metadata", http.Header{"Accept": {"application/fhir+json"}}, "application/fhir+json")
	smart := getJSON(t, s.base+"/fhir/.well-known/smart-configuration", nil, "application/json")

	var doc struct {
		Rest []struct {
			Security struct {
				Cors    bool
				Service []struct {
					Coding []struct{ System, Code string }
				}
				Extension []struct {
					URL       string `json:"url"`
					Extension []struct {
						URL      string `json:"url"`
						ValueURI string `json:"valueUri"`
					}
				}
			}
		}
	}
	raw, _ := json.Marshal(cs)
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Rest) == 0 {
		t.Fatalf("metadata: %v %s", err, raw)
	}
	sec := doc.Rest[0].Security
	t.Run("security.service is SMART-on-FHIR", func(t *testing.T) {
		found := false
		for _, sv := range sec.Service {
			for _, c := range sv.Coding {
				found = found || (c.System == "http://terminology.hl7.org/CodeSystem/restful-security-service" && c.Code == "SMART-on-FHIR")
			}
		}
		if !found {
			t.Errorf("no SMART-on-FHIR coding in %+v", sec.Service)
		}
	})
	t.Run("security.cors is true", func(t *testing.T) {
		if !sec.Cors {
			t.Error("cors false")
		}
	})
	t.Run("oauth-uris equal the discovery endpoints", func(t *testing.T) {
		got := map[string]string{}
		for _, e := range sec.Extension {
			if e.URL == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris" {
				for _, x := range e.Extension {
					got[x.URL] = x.ValueURI
				}
			}
		}
		for name, key := range map[string]string{"authorize": "authorization_endpoint", "token": "token_endpoint",
			"introspect": "introspection_endpoint", "revoke": "revocation_endpoint"} {
			if got[name] == "" || got[name] != smart[key] {
				t.Errorf("oauth-uris %s = %q, smart-configuration %s = %v", name, got[name], key, smart[key])
			}
		}
	})
}

// TestCORS: discovery and metadata are open to any origin; the token
// endpoint and the FHIR API only to the origins of registered clients.
func TestCORS(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	if _, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "browser-app", Type: oauth.ClientPublic,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"launch/patient", "patient/*.rs"}}); err != nil {
		t.Fatal(err)
	}
	tok := systemToken(t, s.Main)
	const registered, stranger = "https://app.example", "https://any.example"
	preflight := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
			"Access-Control-Request-Headers": {"authorization, content-type"}}
	}
	for _, c := range []struct {
		name         string
		method, path string
		header       http.Header
		wantOrigin   string // "" when no Access-Control-Allow-Origin may be sent
		wantStatus   int
	}{
		{"smart-configuration from any origin → *", "GET", "/fhir/.well-known/smart-configuration",
			http.Header{"Origin": {stranger}}, "*", 200},
		{"openid-configuration from any origin → *", "GET", "/fhir/.well-known/openid-configuration",
			http.Header{"Origin": {stranger}}, "*", 200},
		{"root openid-configuration from any origin → *", "GET", "/.well-known/openid-configuration",
			http.Header{"Origin": {stranger}}, "*", 200},
		{"metadata from any origin, no token → *", "GET", "/fhir/metadata",
			http.Header{"Origin": {stranger}}, "*", 200},
		{"JWKS from any origin → *", "GET", "/oauth/jwks",
			http.Header{"Origin": {stranger}}, "*", 200},
		{"preflight on the token endpoint from a registered origin → that origin", "OPTIONS", "/oauth/token",
			preflight(registered), registered, 204},
		{"preflight on the token endpoint from an unregistered origin → no Allow-Origin", "OPTIONS", "/oauth/token",
			preflight(stranger), "", 0},
		{"token request from a registered origin → that origin, even on an error", "POST", "/oauth/token",
			http.Header{"Origin": {registered}, "Content-Type": {"application/x-www-form-urlencoded"}}, registered, 400},
		{"token request from an unregistered origin → no Allow-Origin", "POST", "/oauth/token",
			http.Header{"Origin": {stranger}, "Content-Type": {"application/x-www-form-urlencoded"}}, "", 400},
		{"preflight on the FHIR API from a registered origin → that origin", "OPTIONS", "/fhir/Patient/pat-a",
			http.Header{"Origin": {registered}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}}, registered, 204},
		{"FHIR read with a token from a registered origin → that origin", "GET", "/fhir/Patient/pat-a",
			http.Header{"Origin": {registered}, "Authorization": {"Bearer " + tok}}, registered, 200},
		{"FHIR read with a token from an unregistered origin → no Allow-Origin", "GET", "/fhir/Patient/pat-a",
			http.Header{"Origin": {stranger}, "Authorization": {"Bearer " + tok}}, "", 200},
		{"a registered origin with another port is another origin → no Allow-Origin", "GET", "/fhir/Patient/pat-a",
			http.Header{"Origin": {registered + ":8443"}, "Authorization": {"Bearer " + tok}}, "", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.method == "POST" {
				body = strings.NewReader("grant_type=authorization_code&code=BAD_CODE&client_id=browser-app")
			}
			status, b, hdr := call(t, c.method, s.base+c.path, c.header, body)
			if c.wantStatus != 0 && status != c.wantStatus {
				t.Errorf("status %d, want %d: %s", status, c.wantStatus, b)
			}
			if got := hdr.Get("Access-Control-Allow-Origin"); got != c.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, c.wantOrigin)
			}
			if c.wantOrigin != "" && c.wantOrigin != "*" && !slices.Contains(hdr.Values("Vary"), "Origin") {
				t.Errorf("Vary = %v, want Origin", hdr.Values("Vary"))
			}
			if c.method == "OPTIONS" && c.wantOrigin != "" {
				if m := hdr.Get("Access-Control-Allow-Methods"); !strings.Contains(m, c.header.Get("Access-Control-Request-Method")) {
					t.Errorf("Access-Control-Allow-Methods = %q", m)
				}
				if h := strings.ToLower(hdr.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") {
					t.Errorf("Access-Control-Allow-Headers = %q", h)
				}
			}
		})
	}
}

// TestFHIRRequiresBearerToken: without a usable token the FHIR API
// answers exactly 401 with an RFC 6750 challenge naming the realm.
func TestFHIRRequiresBearerToken(t *testing.T) {
	s := startSMART(t)
	realm := `Bearer realm="` + s.base + `/fhir"`
	for _, c := range []struct {
		name, path, auth string
		wantError        string // the error= parameter, "" when none may be given
	}{
		{"read with no token → 401, challenge without error", "/fhir/Patient/pat-a", "", ""},
		{"search with no token → 401", "/fhir/Observation?patient=pat-a", "", ""},
		{"Basic credentials are not a token → 401", "/fhir/Patient/pat-a", "Basic YXBwOnNlY3JldA==", ""},
		{"empty Bearer → 401", "/fhir/Patient/pat-a", "Bearer ", ""},
		{"garbage token → 401 invalid_token", "/fhir/Patient/pat-a", "Bearer not-a-token", "invalid_token"},
		{"token-shaped garbage → 401 invalid_token", "/fhir/Patient/pat-a", "Bearer ory_at_" + oauth.NewSecret(32) + "." + oauth.NewSecret(32), "invalid_token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.auth != "" {
				h.Set("Authorization", c.auth)
			}
			status, body, hdr := call(t, http.MethodGet, s.base+c.path, h, nil)
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", status, body)
			}
			www := hdr.Get("WWW-Authenticate")
			if !strings.HasPrefix(www, realm) {
				t.Errorf("WWW-Authenticate = %q, want it to start %q", www, realm)
			}
			if c.wantError == "" && strings.Contains(www, "error=") {
				t.Errorf("WWW-Authenticate = %q: no error code for a request without a token (RFC 6750 §3.1)", www)
			}
			if c.wantError != "" && !strings.Contains(www, `error="`+c.wantError+`"`) {
				t.Errorf("WWW-Authenticate = %q, want error=%q", www, c.wantError)
			}
			var oo map[string]any
			if json.Unmarshal(body, &oo) != nil || oo["resourceType"] != "OperationOutcome" {
				t.Errorf("body is not an OperationOutcome: %s", body)
			}
		})
	}
}

// idTokenClaims decodes an id_token's payload without checking it (the
// OIDC tests verify signatures; here only the values are compared).
func idTokenClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q is not a JWS", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestIntrospection: RFC 7662 as SMART profiles it. The caller
// authenticates with a bearer token or with client credentials; an active
// token's answer echoes its scope, client, expiry, subject, issuer and
// launch context; an unknown token is just inactive.
func TestIntrospection(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	tok := s.launch(t, "launch/patient openid fhirUser patient/*.rs")
	id := idTokenClaims(t, tok.Extra("id_token").(string))
	secret, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "resource-server", Type: oauth.ClientConfidential,
		RedirectURIs: []string{"https://rs.example/cb"}, Scopes: []string{"openid", "system/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "other-app", Type: oauth.ClientConfidential,
		RedirectURIs: []string{"https://other.example/cb"}, Scopes: []string{"openid", "patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	basic := func(id, secret string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}}
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	introspect := func(t *testing.T, token string, auth http.Header) (int, map[string]any) {
		status, body, hdr := postForm(t, s.Main, "/oauth/introspect", url.Values{"token": {token}}, auth)
		if status == 200 && hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", hdr.Get("Cache-Control"))
		}
		return status, body
	}

	for _, c := range []struct {
		name string
		auth http.Header
	}{
		{"caller authenticated by another access token", bearer(systemToken(t, s.Main))},
		{"caller authenticated by client_secret_basic", basic("resource-server", secret)},
	} {
		t.Run(c.name+" → active with scope, client, exp, sub, iss and patient", func(t *testing.T) {
			status, body := introspect(t, tok.AccessToken, c.auth)
			if status != 200 || body["active"] != true {
				t.Fatalf("introspect: %d %v", status, body)
			}
			granted := strings.Fields(tok.Extra("scope").(string))
			got := strings.Fields(str(body["scope"]))
			slices.Sort(granted)
			slices.Sort(got)
			if !slices.Equal(got, granted) {
				t.Errorf("scope = %v, want the token response's %v", got, granted)
			}
			if body["client_id"] != "app" {
				t.Errorf("client_id = %v", body["client_id"])
			}
			exp, _ := body["exp"].(float64)
			if d := time.Until(time.Unix(int64(exp), 0)); d <= 0 || d > time.Hour+time.Minute {
				t.Errorf("exp = %v, %v from now", body["exp"], d)
			}
			if body["sub"] == nil || body["sub"] != id["sub"] {
				t.Errorf("sub = %v, id_token sub = %v", body["sub"], id["sub"])
			}
			if body["iss"] == nil || body["iss"] != id["iss"] {
				t.Errorf("iss = %v, id_token iss = %v", body["iss"], id["iss"])
			}
			if body["patient"] != "pat-a" || body["patient"] != tok.Extra("patient") {
				t.Errorf("patient = %v, token response patient = %v", body["patient"], tok.Extra("patient"))
			}
			if body["fhirUser"] == nil {
				t.Errorf("fhirUser missing (SHOULD be given with an id_token)")
			}
		})
	}

	t.Run("a Basic client id alongside another client's access_token field → inactive", func(t *testing.T) {
		// The caller is the access_token's client, whatever the
		// unchecked Basic header names.
		status, body, _ := postForm(t, s.Main, "/oauth/introspect", url.Values{"token": {tok.AccessToken}, "access_token": {otherAppToken(t, s)}},
			basic("app", "anything"))
		if status == 200 && body["active"] == true {
			t.Errorf("spoofed caller learned %v", body)
		}
	})
	for _, c := range []struct {
		name       string
		token      string
		auth       http.Header
		wantStatus int
	}{
		{"unknown token → 200 active false", "invalid_token_value", basic("resource-server", secret), 200},
		{"another app's token, asked by an app that is no resource server → 200 active false", tok.AccessToken, basic("other-app", otherSecret), 200},
		{"unknown token, bearer caller → 200 active false", oauth.NewSecret(32), bearer(systemToken(t, s.Main)), 200},
		{"no caller authentication → 401", tok.AccessToken, nil, 401},
		{"wrong client secret → 401", tok.AccessToken, basic("resource-server", "wrong"), 401},
		{"caller token that is not a token → 401", tok.AccessToken, bearer("not-a-token"), 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := introspect(t, c.token, c.auth)
			if status != c.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, c.wantStatus, body)
			}
			if c.wantStatus == 200 && (len(body) != 1 || body["active"] != false) {
				t.Errorf("body %v, want exactly {\"active\":false}", body)
			}
			if c.wantStatus != 200 && body["active"] == true {
				t.Errorf("an unauthenticated caller learned %v", body)
			}
		})
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// otherAppToken is an access token of a public app other than "app",
// holding no system scope.
func otherAppToken(t *testing.T, s *smartServer) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "second-app", Name: "Test app", Type: oauth.ClientPublic,
		RedirectURIs: []string{appRedirect}, Scopes: strings.Fields("launch/patient patient/*.rs")}); err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig("launch/patient patient/*.rs")
	conf.ClientID = "second-app"
	verifier := oauth2.GenerateVerifier()
	loc := authorizeApp(t, browser(t), conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir")), []string{"patient/*.rs"})
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}
