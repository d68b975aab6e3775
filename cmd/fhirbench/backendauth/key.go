package backendauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a private key that signs client assertions, with the kid and alg
// its public JWKS announces.
type Key struct {
	signer crypto.Signer
	kid    string
	alg    jose.SignatureAlgorithm
}

// KeyID is the kid: the RFC 7638 SHA-256 thumbprint of the public key, so
// the same key file always names the same JWKS entry.
func (k *Key) KeyID() string { return k.kid }

// Algorithm is ES384 for a P-384 key, RS384 for an RSA key.
func (k *Key) Algorithm() jose.SignatureAlgorithm { return k.alg }

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// NewKey wraps a P-384 ECDSA or an RSA (at least 2048 bits) private key.
func NewKey(signer crypto.Signer) (*Key, error) {
	var alg jose.SignatureAlgorithm
	switch p := signer.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P384() {
			return nil, fmt.Errorf("an EC key must be on P-384 for ES384, not %s", p.Curve.Params().Name)
		}
		alg = jose.ES384
	case *rsa.PrivateKey:
		if p.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("an RSA key needs at least %d bits, this one has %d", minRSABits, p.N.BitLen())
		}
		alg = jose.RS384
	default:
		return nil, fmt.Errorf("a %T cannot sign RS384 or ES384; use a P-384 EC or an RSA key", signer)
	}
	pub := jose.JSONWebKey{Key: signer.Public()}
	sum, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key thumbprint: %w", err)
	}
	return &Key{signer: signer, kid: base64.RawURLEncoding.EncodeToString(sum), alg: alg}, nil
}

// GenerateKey makes a new key for alg, ES384 (P-384) or RS384 (3072 bits).
func GenerateKey(alg jose.SignatureAlgorithm) (*Key, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case jose.ES384:
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.RS384:
		signer, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("alg %q: use ES384 or RS384", alg)
	}
	if err != nil {
		return nil, err
	}
	return NewKey(signer)
}

// PrivatePEM is the private key as a PKCS #8 "PRIVATE KEY" block.
func (k *Key) PrivatePEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicJWKS is the JWKS to register with the server: the public key alone,
// with its kid, alg and use "sig".
func (k *Key) PublicJWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: k.signer.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig",
	}}}
	b, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// LoadKey reads a PEM private key: PKCS #8 ("PRIVATE KEY", as keygen
// writes it), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY").
// Its errors name the file, never its contents.
func LoadKey(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKey is LoadKey on the file's contents.
func ParseKey(raw []byte) (*Key, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block; want a PEM private key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		// The parser's message describes the structure, not the key.
		return nil, fmt.Errorf("reading the %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign RS384 or ES384; use a P-384 EC or an RSA key", key)
	}
	return NewKey(signer)
}
