package backendauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseKeyTakesP384AndRSAInTheirUsualPEMForms(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pkcs8EC, _ := x509.MarshalPKCS8PrivateKey(ec)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tt := range []struct {
		name string
		pem  []byte
		alg  jose.SignatureAlgorithm
	}{
		{"EC in PKCS #8", pemOf(t, "PRIVATE KEY", pkcs8EC), jose.ES384},
		{"EC in SEC 1", pemOf(t, "EC PRIVATE KEY", sec1), jose.ES384},
		{"RSA in PKCS #1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), jose.RS384},
	} {
		k, err := ParseKey(tt.pem)
		if err != nil || k.Algorithm() != tt.alg || k.KeyID() == "" {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	a, _ := ParseKey(pemOf(t, "PRIVATE KEY", pkcs8EC))
	b, _ := ParseKey(pemOf(t, "EC PRIVATE KEY", sec1))
	if a.KeyID() != b.KeyID() {
		t.Errorf("one key, two kids: %s, %s", a.KeyID(), b.KeyID())
	}
}

func TestParseKeyRefusesKeysThatCannotSignRS384OrES384(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256der, _ := x509.MarshalPKCS8PrivateKey(p256)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	edder, _ := x509.MarshalPKCS8PrivateKey(edk)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	pub, _ := x509.MarshalPKIXPublicKey(&p256.PublicKey)
	for _, tt := range []struct {
		name, want string
		pem        []byte
	}{
		{"P-256", "P-384", pemOf(t, "PRIVATE KEY", p256der)},
		{"Ed25519", "cannot sign", pemOf(t, "PRIVATE KEY", edder)},
		{"RSA 1024", "at least 2048 bits", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))},
		{"a public key", "not a private key", pemOf(t, "PUBLIC KEY", pub)},
		{"not PEM", "no PEM block", []byte("secret-looking-text")},
	} {
		_, err := ParseKey(tt.pem)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-looking-text") {
			t.Errorf("%s: the error quotes the file: %v", tt.name, err)
		}
	}
}

func TestGenerateKeyRS384(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3072-bit RSA key takes a while")
	}
	k, err := GenerateKey(jose.RS384)
	if err != nil || k.Algorithm() != jose.RS384 {
		t.Fatal(k, err)
	}
	if _, err := GenerateKey("HS256"); err == nil {
		t.Error("HS256 accepted")
	}
}
