package audit_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/oncofhir/oncofhir/audit"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "audit.pem")
	k1, err := audit.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if block, _ := pem.Decode(b); block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("key file is not a PEM PRIVATE KEY:\n%s", b)
	}
	k2, err := audit.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("a second load gave another key")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".audit-key-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestLoadOrCreateKeyConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.pem")
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Go(func() {
			k, err := audit.LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if string(k) != string(keys[0]) {
			t.Fatal("two creators got different keys")
		}
	}
}

func TestLoadOrCreateKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	files := map[string][]byte{
		"garbage.pem": []byte("not a key"),
		"ecdsa.pem":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"broken.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.LoadOrCreateKey(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := audit.LoadOrCreateKey(""); err == nil {
		t.Error("an empty path was accepted")
	}
}
