package main

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// keygenFiles runs keygen in a fresh directory and returns the key and
// JWKS paths.
func keygenFiles(t *testing.T) (keyPath, jwksPath string) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "bench")
	var out, errOut strings.Builder
	if err := keygen([]string{"-out", prefix}, &out, &errOut); err != nil {
		t.Fatalf("keygen: %v\n%s", err, errOut.String())
	}
	return prefix + ".key", prefix + ".jwks.json"
}

func TestKeygenWritesAPrivateKeyForItsOwnerAndAPublicJWKS(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "bench")
	var out, errOut strings.Builder
	if err := keygen([]string{"-out", prefix}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	st, err := os.Stat(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	priv, _ := os.ReadFile(prefix + ".key")
	if b, _ := pem.Decode(priv); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key file is not a PKCS #8 PEM")
	}
	raw, _ := os.ReadFile(prefix + ".jwks.json")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	k := set.Keys[0]
	if !k.IsPublic() || k.KeyID == "" || k.Algorithm != "ES384" || k.Use != "sig" {
		t.Errorf("JWKS key: public %v, kid %q, alg %q, use %q", k.IsPublic(), k.KeyID, k.Algorithm, k.Use)
	}
	if strings.Contains(string(raw), `"d"`) {
		t.Errorf("the JWKS holds a private part: %s", raw)
	}
	want := `fhirserver client add --id fhirbench --type backend --scope "system/*.cruds" --jwks-file ` + prefix + ".jwks.json\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output does not show %q:\n%s", want, out.String())
	}
	if !strings.Contains(out.String(), "-client fhirbench -key "+prefix+".key") {
		t.Errorf("output does not show how to run with the key:\n%s", out.String())
	}
	if strings.Contains(out.String(), "PRIVATE KEY") || strings.Contains(out.String(), strings.Split(string(priv), "\n")[1]) {
		t.Errorf("output shows the private key:\n%s", out.String())
	}
}

func TestKeygenDoesNotOverwrite(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "bench")
	if err := os.WriteFile(prefix+".jwks.json", []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := keygen([]string{"-out", prefix}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(prefix + ".key"); err == nil {
		t.Error("a key was written beside the JWKS it would not overwrite")
	}
	if b, _ := os.ReadFile(prefix + ".jwks.json"); string(b) != "mine" {
		t.Errorf("the JWKS was changed: %s", b)
	}
	if err := keygen([]string{"-out", filepath.Join(t.TempDir(), "x"), "-alg", "HS256"}, &out, &out); err == nil {
		t.Error("-alg HS256 accepted")
	}
}
