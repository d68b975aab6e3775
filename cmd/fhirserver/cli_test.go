package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// cli runs a command line as the binary does, with stdin as its standard
// input, and returns what it printed. The store comes from --data only.
func cli(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("FHIR_MONGO_URI", "")
	var out bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, quiet())
	return out.String(), err
}

// mustCLI is cli for a command that must succeed.
func mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := cli(t, stdin, args...)
	if err != nil {
		t.Fatalf("fhirserver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

var printedSecret = regexp.MustCompile(`client secret \(shown once, keep it safe\): (\S+)`)

// authorizeAs signs a user in and grants every offered scope, returning
// the redirect to the app (authorizeApp, for any user and app named
// "Test app").
func authorizeAs(t *testing.T, b *http.Client, authURL, user, password string, keep []string) *url.URL {
	t.Helper()
	resp, body := signIn(t, b, authURL, user, password)
	if resp.StatusCode != 200 || !strings.Contains(body, "Allow Test app") {
		t.Fatalf("expected the authorization page, got %d:\n%s", resp.StatusCode, body)
	}
	resp, err := b.PostForm(resp.Request.URL.String(), url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": keep})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect to the app: %d", resp.StatusCode)
	}
	return loc
}

// authCodeFlow runs a standalone launch for conf's client as user and
// exchanges the code with conf's client authentication.
func authCodeFlow(t *testing.T, s *smartServer, conf *oauth2.Config, user, password string) (*oauth2.Token, error) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir"))
	var keep []string
	for _, sc := range conf.Scopes {
		if strings.HasPrefix(sc, "patient/") || sc == "offline_access" {
			keep = append(keep, sc)
		}
	}
	loc := authorizeAs(t, browser(t), authURL, user, password, keep)
	if loc.Query().Get("code") == "" {
		t.Fatalf("no code in %s", loc)
	}
	return conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
}

// TestClientAddConfidentialBesideRunningServer: `client add` on the
// --data of a running server registers a confidential client at once; its
// secret is printed once, works as client_secret_basic and
// client_secret_post, and only its hash is stored.
func TestClientAddConfidentialBesideRunningServer(t *testing.T) {
	s := startSMART(t)
	dir := s.Config.DataDir
	scopes := "launch/patient openid fhirUser offline_access patient/*.rs"
	out := mustCLI(t, "", "client", "add", "--data", dir, "--id", "portal", "--type", "confidential", "--name", "Test app",
		"--redirect-uri", appRedirect, "--scope", scopes)
	m := printedSecret.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret printed:\n%s", out)
	}
	secret := m[1]
	conf := func(style oauth2.AuthStyle, secret string) *oauth2.Config {
		return &oauth2.Config{ClientID: "portal", ClientSecret: secret, RedirectURL: appRedirect, Scopes: strings.Fields(scopes),
			Endpoint: oauth2.Endpoint{AuthURL: s.base + "/oauth/authorize", TokenURL: s.base + "/oauth/token", AuthStyle: style}}
	}

	t.Run("the secret is printed once", func(t *testing.T) {
		if n := strings.Count(out, secret); n != 1 || len(secret) < 43 {
			t.Errorf("secret of %d characters printed %d times", len(secret), n)
		}
	})
	for _, c := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"client_secret_basic at the token endpoint", oauth2.AuthStyleInHeader},
		{"client_secret_post at the token endpoint", oauth2.AuthStyleInParams},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := authCodeFlow(t, s, conf(c.style, secret), "ann", "correct horse battery")
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", tok.AccessToken); status != 200 {
				t.Errorf("read with the token: %d", status)
			}
			// A confidential client's refresh needs its secret too.
			refreshed, err := conf(c.style, secret).TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil || refreshed.AccessToken == "" {
				t.Errorf("refresh with the secret: %v", err)
			}
		})
	}
	t.Run("a wrong secret is refused at the token endpoint", func(t *testing.T) {
		_, err := authCodeFlow(t, s, conf(oauth2.AuthStyleInHeader, "not-"+secret), "ann", "correct horse battery")
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != http.StatusUnauthorized || re.ErrorCode != "invalid_client" {
			t.Errorf("exchange with a wrong secret: %v, want 401 invalid_client", err)
		}
	})
	t.Run("the secret authenticates at the introspection endpoint", func(t *testing.T) {
		// Authenticated (200, not 401); another client's token reads as
		// inactive to an app that is no resource server.
		status, body, _ := postForm(t, s.Main, "/oauth/introspect", url.Values{"token": {systemToken(t, s.Main)}},
			http.Header{"Authorization": {"Basic " + basicAuth("portal", secret)}})
		if status != 200 || body["active"] != false {
			t.Errorf("introspect: %d %v", status, body)
		}
		status, _, _ = postForm(t, s.Main, "/oauth/introspect", url.Values{"token": {systemToken(t, s.Main)}},
			http.Header{"Authorization": {"Basic " + basicAuth("portal", "not-"+secret)}})
		if status != http.StatusUnauthorized {
			t.Errorf("introspect with a wrong secret: %d", status)
		}
	})
	t.Run("client list shows it without the secret", func(t *testing.T) {
		list := mustCLI(t, "", "client", "list", "--data", dir)
		if !regexp.MustCompile(`(?m)^portal\s+confidential\s+Test app\s+` + regexp.QuoteMeta(appRedirect)).MatchString(list) {
			t.Errorf("portal missing from:\n%s", list)
		}
		if strings.Contains(list, secret) {
			t.Errorf("client list prints the secret:\n%s", list)
		}
	})
	t.Run("the store keeps a hash, never the secret", func(t *testing.T) {
		c, err := oauth.Clients{Records: s.Store.(fhir.Records)}.Get(context.Background(), "portal")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(c)
		sum := sha256.Sum256([]byte(secret))
		if bytes.Equal(c.SecretHash, []byte(secret)) || !bytes.Equal(c.SecretHash, sum[:]) || bytes.Contains(raw, []byte(secret)) {
			t.Errorf("stored client %s holds the secret or not its hash", raw)
		}
	})
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestClientRemoveEndsItsTokens: `client remove` on a running server's
// --data ends the client's tokens on the next FHIR request.
func TestClientRemoveEndsItsTokens(t *testing.T) {
	s := startSMART(t)
	dir := s.Config.DataDir
	user := s.launch(t, "launch/patient openid fhirUser offline_access patient/*.rs")
	registerBackend(t, s.Main, "bulk", "system/*.rs")
	backend := backendToken(t, s.Main, "bulk", "system/*.rs")

	for _, c := range []struct {
		name, client, token, path string
	}{
		{"a user's token of a removed app → 401", "app", user.AccessToken, "/Patient/pat-a"},
		{"a backend service's token of a removed client → 401", "bulk", backend, "/Observation/obs-b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if status, _, _ := fhirGet(t, s.base, c.path, c.token); status != 200 {
				t.Fatalf("before removal: %d", status)
			}
			out := mustCLI(t, "", "client", "remove", "--data", dir, "--id", c.client)
			if !strings.Contains(out, "client "+c.client+" removed") {
				t.Errorf("output %q", out)
			}
			status, _, hdr := fhirGet(t, s.base, c.path, c.token)
			if status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("after removal: %d %q, want 401 invalid_token", status, hdr.Get("WWW-Authenticate"))
			}
			if list := mustCLI(t, "", "client", "list", "--data", dir); regexp.MustCompile(`(?m)^` + c.client + `\s`).MatchString(list) {
				t.Errorf("client list still shows %s:\n%s", c.client, list)
			}
		})
	}
	t.Run("the removed app's refresh token is refused", func(t *testing.T) {
		status, body, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {user.RefreshToken}, "client_id": {"app"}}, nil)
		if status != 400 && status != 401 {
			t.Errorf("refresh: %d %v", status, body)
		}
	})
	t.Run("the removed backend cannot get a new token", func(t *testing.T) {
		tokenURL := s.OAuth.Endpoints().Token
		status, body, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {signAssertion(t, backendKey(), "k1", jose.RS384, "bulk", tokenURL, oauth.NewSecret(16), time.Now().Add(4*time.Minute))}}, nil)
		if status != 401 || body["error"] != "invalid_client" {
			t.Errorf("client_credentials: %d %v, want 401 invalid_client", status, body)
		}
	})
	t.Run("removing an unknown client is an error", func(t *testing.T) {
		if _, err := cli(t, "", "client", "remove", "--data", dir, "--id", "nobody"); err == nil {
			t.Error("no error")
		}
	})
}

// TestUserAddAndDisable: `user add --password-stdin` beside a running
// server creates an account that can sign in; `user disable` ends its
// tokens and login session at once and refuses its next sign-in.
func TestUserAddAndDisable(t *testing.T) {
	s := startSMART(t)
	dir := s.Config.DataDir
	const password = "a long enough passphrase"
	out := mustCLI(t, password+"\n", "user", "add", "--data", dir, "--username", "Bea", "--role", "patient",
		"--fhir-user", "Patient/pat-b", "--password-stdin", "--totp")
	if !strings.Contains(out, "user bea added (patient)") || strings.Contains(out, password) {
		t.Fatalf("output %q", out)
	}
	t.Run("the password is stored as an argon2id hash", func(t *testing.T) {
		a, err := oauth.Accounts{Records: s.Store.(fhir.Records)}.ByUsername(context.Background(), "bea")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(a.Password, "$argon2id$") || strings.Contains(a.Password, password) {
			t.Errorf("stored password %q", a.Password)
		}
	})

	conf := s.oauthConfig("launch/patient openid fhirUser offline_access patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir"))
	b := browser(t)
	loc := authorizeAs(t, b, authURL, "bea", password, []string{"offline_access", "patient/*.rs"})
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if status, body, _ := fhirGet(t, s.base, "/Patient/pat-b", tok.AccessToken); status != 200 || body["id"] != "pat-b" {
		t.Fatalf("bea reads her record: %d %v", status, body)
	}

	out = mustCLI(t, "", "user", "disable", "--data", dir, "--username", "BEA")
	if !strings.Contains(out, "user bea disabled") {
		t.Errorf("output %q", out)
	}
	t.Run("her access token fails at once", func(t *testing.T) {
		if status, _, _ := fhirGet(t, s.base, "/Patient/pat-b", tok.AccessToken); status != 401 {
			t.Errorf("read after disable: %d, want 401", status)
		}
	})
	t.Run("her refresh token is refused", func(t *testing.T) {
		status, body, _ := postForm(t, s.Main, "/oauth/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {tok.RefreshToken}, "client_id": {"app"}}, nil)
		if status != 400 && status != 401 {
			t.Errorf("refresh after disable: %d %v", status, body)
		}
	})
	t.Run("her browser's login session has ended and the right password is refused", func(t *testing.T) {
		// signIn insists on the login page: the old session no longer
		// passes the browser straight to the authorization page.
		resp, body := signIn(t, b, authURL, "bea", password)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "Allow Test app") {
			t.Errorf("sign-in of a disabled user: %d", resp.StatusCode)
		}
	})
	t.Run("user list shows her disabled", func(t *testing.T) {
		list := mustCLI(t, "", "user", "list", "--data", dir)
		if !regexp.MustCompile(`(?m)^bea\s+patient\s+Patient/pat-b\s+disabled$`).MatchString(list) {
			t.Errorf("user list:\n%s", list)
		}
	})
}

// jwks fetches the published key set.
func jwks(t *testing.T, s *smartServer) jose.JSONWebKeySet {
	t.Helper()
	status, body, _ := call(t, http.MethodGet, s.OAuth.Endpoints().JWKS, nil, nil)
	var set jose.JSONWebKeySet
	if status != 200 || json.Unmarshal(body, &set) != nil {
		t.Fatalf("jwks: %d %s", status, body)
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// verifyIDToken checks an id_token's RS256 signature against a key set
// as a relying party does: the key named by the kid header.
func verifyIDToken(raw string, set jose.JSONWebKeySet) (kid string, err error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", err
	}
	kid = jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		return kid, errors.New("no published key " + kid)
	}
	_, err = jws.Verify(keys[0])
	return kid, err
}

// TestKeyRotation: `key rotate` beside a running server publishes a new
// key that signs new id_tokens while the old key still verifies older
// ones; `key retire` stops publishing the old key and refuses the
// current one.
func TestKeyRotation(t *testing.T) {
	s := startSMART(t)
	dir := s.Config.DataDir
	scopes := "launch/patient openid fhirUser patient/*.rs"
	before := s.launch(t, scopes).Extra("id_token").(string)
	old, err := verifyIDToken(before, jwks(t, s))
	if err != nil {
		t.Fatalf("id_token before rotation: %v", err)
	}

	out := mustCLI(t, "", "key", "rotate", "--data", dir)
	m := regexp.MustCompile(`new signing key (\S+);`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output %q", out)
	}
	cur := m[1]
	t.Run("after rotate the JWKS has both keys", func(t *testing.T) {
		if got := kids(jwks(t, s)); len(got) != 2 || got[0] == got[1] || !contains(got, old) || !contains(got, cur) {
			t.Errorf("kids %v, want %s and %s", got, old, cur)
		}
	})
	t.Run("a new id_token is signed with the new key", func(t *testing.T) {
		after := s.launch(t, scopes).Extra("id_token").(string)
		if kid, err := verifyIDToken(after, jwks(t, s)); kid != cur || err != nil {
			t.Errorf("kid %s (%v), want %s", kid, err, cur)
		}
	})
	t.Run("an id_token signed before the rotation still verifies", func(t *testing.T) {
		if _, err := verifyIDToken(before, jwks(t, s)); err != nil {
			t.Error(err)
		}
	})
	t.Run("key list: the new key signs, the old one verifies", func(t *testing.T) {
		list := mustCLI(t, "", "key", "list", "--data", dir)
		if !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(cur)+`\s.*\ssigns$`).MatchString(list) ||
			!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(old)+`\s.*\sverifies$`).MatchString(list) {
			t.Errorf("key list:\n%s", list)
		}
	})
	t.Run("retiring the current key is refused", func(t *testing.T) {
		if _, err := cli(t, "", "key", "retire", "--data", dir, "--kid", cur); err == nil {
			t.Error("no error")
		}
		if got := kids(jwks(t, s)); len(got) != 2 {
			t.Errorf("kids %v after a refused retire", got)
		}
	})
	t.Run("retiring an unknown key is an error", func(t *testing.T) {
		if _, err := cli(t, "", "key", "retire", "--data", dir, "--kid", "no-such-kid"); err == nil {
			t.Error("no error")
		}
	})
	t.Run("key retire --kid old removes it from the JWKS", func(t *testing.T) {
		mustCLI(t, "", "key", "retire", "--data", dir, "--kid", old)
		if got := kids(jwks(t, s)); len(got) != 1 || got[0] != cur {
			t.Errorf("kids %v, want only %s", got, cur)
		}
		if _, err := verifyIDToken(before, jwks(t, s)); err == nil {
			t.Error("an id_token of the retired key still verifies")
		}
		if list := mustCLI(t, "", "key", "list", "--data", dir); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(old) + `\s.*\sretired$`).MatchString(list) {
			t.Errorf("key list:\n%s", list)
		}
	})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestCLIRefusesBadInput: every malformed or conflicting command is an
// error and stores nothing.
func TestCLIRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "", "client", "add", "--data", dir, "--id", "good", "--type", "public", "--redirect-uri", "https://good.example/cb", "--scope", "patient/*.rs")
	mustCLI(t, "correct horse battery\n", "user", "add", "--data", dir, "--username", "ann", "--role", "patient", "--fhir-user", "Patient/p1", "--password-stdin")
	mustCLI(t, "", "key", "rotate", "--data", dir)
	state := func() string {
		return mustCLI(t, "", "client", "list", "--data", dir) + mustCLI(t, "", "user", "list", "--data", dir) + mustCLI(t, "", "key", "list", "--data", dir)
	}
	want := state()
	privateJWKS := dir + "/private.json"
	if b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: backendKey(), KeyID: "k1", Algorithm: "RS384"}}}); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(privateJWKS, b, 0o600); err != nil {
		t.Fatal(err)
	}

	client := func(extra ...string) []string { return append([]string{"client", "add", "--data", dir}, extra...) }
	user := func(extra ...string) []string { return append([]string{"user", "add", "--data", dir}, extra...) }
	const pw = "correct horse battery\n"
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"unknown client type", "", client("--id", "x", "--type", "partner", "--redirect-uri", "https://x.example/cb")},
		{"client without a type", "", client("--id", "x", "--redirect-uri", "https://x.example/cb")},
		{"public client without a redirect URI", "", client("--id", "x", "--type", "public")},
		{"confidential client without a redirect URI", "", client("--id", "x", "--type", "confidential")},
		{"relative redirect URI", "", client("--id", "x", "--type", "public", "--redirect-uri", "/cb")},
		{"redirect URI with a fragment", "", client("--id", "x", "--type", "public", "--redirect-uri", "https://x.example/cb#f")},
		{"relative launch URI", "", client("--id", "x", "--type", "public", "--redirect-uri", "https://x.example/cb", "--launch-uri", "launch")},
		{"malformed scope", "", client("--id", "x", "--type", "public", "--redirect-uri", "https://x.example/cb", "--scope", "patient/Observation.xyz")},
		{"scope letters out of order", "", client("--id", "x", "--type", "public", "--redirect-uri", "https://x.example/cb", "--scope", "patient/Observation.sr")},
		{"unknown scope", "", client("--id", "x", "--type", "public", "--redirect-uri", "https://x.example/cb", "--scope", "admin/*.rs")},
		{"client id with a space", "", client("--id", "x y", "--type", "public", "--redirect-uri", "https://x.example/cb")},
		{"empty client id", "", client("--type", "public", "--redirect-uri", "https://x.example/cb")},
		{"backend client without keys", "", client("--id", "x", "--type", "backend", "--scope", "system/*.rs")},
		{"public client with keys", "", client("--id", "x", "--type", "public", "--redirect-uri", "https://x.example/cb", "--jwks-url", "https://x.example/jwks")},
		{"unreadable JWKS file", "", client("--id", "x", "--type", "backend", "--jwks-file", dir+"/missing.json")},
		{"JWKS file holding a private key", "", client("--id", "x", "--type", "backend", "--scope", "system/*.rs", "--jwks-file", privateJWKS)},
		{"duplicate client id", "", client("--id", "good", "--type", "confidential", "--redirect-uri", "https://other.example/cb")},
		{"unknown client flag", "", client("--id", "x", "--type", "public", "--redirect-uri", "https://x.example/cb", "--colour", "red")},
		{"removing an unknown client", "", []string{"client", "remove", "--data", dir, "--id", "nobody"}},
		{"unknown client command", "", []string{"client", "rename", "--data", dir}},

		{"short password", "seven77\n", user("--username", "bob", "--role", "nurse", "--password-stdin")},
		{"password of seven characters in more bytes", "ñññññññ\n", user("--username", "bob", "--role", "nurse", "--password-stdin")},
		{"empty password", "", user("--username", "bob", "--role", "nurse", "--password-stdin")},
		{"password not on standard input", pw, user("--username", "bob", "--role", "nurse")},
		{"fhir user of another type", pw, user("--username", "bob", "--role", "nurse", "--fhir-user", "Observation/1", "--password-stdin")},
		{"fhir user without an id", pw, user("--username", "bob", "--role", "oncologist", "--fhir-user", "Practitioner/", "--password-stdin")},
		{"absolute fhir user", pw, user("--username", "bob", "--role", "oncologist", "--fhir-user", "https://x.example/fhir/Practitioner/1", "--password-stdin")},
		{"patient without a Patient", pw, user("--username", "bob", "--role", "patient", "--fhir-user", "Practitioner/1", "--password-stdin")},
		{"proxy without a RelatedPerson", pw, user("--username", "bob", "--role", "proxy", "--fhir-user", "Patient/p1", "--password-stdin")},
		{"unknown role", pw, user("--username", "bob", "--role", "superuser", "--password-stdin")},
		{"username with a space", pw, user("--username", "bob smith", "--role", "nurse", "--password-stdin")},
		{"duplicate username, in other case", pw, user("--username", "ANN", "--role", "nurse", "--password-stdin")},
		{"disabling an unknown user", "", []string{"user", "disable", "--data", dir, "--username", "nobody"}},
		{"unknown user command", "", []string{"user", "delete", "--data", dir}},

		{"retiring an unknown key", "", []string{"key", "retire", "--data", dir, "--kid", "nope"}},
		{"retiring without --kid", "", []string{"key", "retire", "--data", dir}},
		{"unknown key command", "", []string{"key", "delete", "--data", dir}},
		{"unknown command", "", []string{"frobnicate", "--data", dir}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := cli(t, c.stdin, c.args...)
			if err == nil {
				t.Errorf("no error; printed %q", out)
			}
			if strings.Contains(out, "client secret") {
				t.Errorf("a refused command printed a secret: %q", out)
			}
			if got := state(); got != want {
				t.Errorf("stored state changed:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestCLIHelpGoesToStdout: help is printed where the caller asked.
func TestCLIHelpGoesToStdout(t *testing.T) {
	out := mustCLI(t, "", "help")
	for _, cmd := range []string{"client add|list|remove", "user add|list|disable", "key list|rotate|retire"} {
		if !strings.Contains(out, cmd) {
			t.Errorf("help lacks %q:\n%s", cmd, out)
		}
	}
}
