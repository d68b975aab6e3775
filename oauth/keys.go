package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	kindKey    = "oauth.key"
	kindSecret = "oauth.secret"
)

// SigningKey is one RSA key that signs id_tokens. The newest key that is
// not retired signs; every key not retired is published in the JWKS, so
// tokens signed before a rotation still verify until the old key is
// retired.
type SigningKey struct {
	ID      string    `json:"kid"`
	Created time.Time `json:"created"`
	Retired bool      `json:"retired,omitempty"`
	DER     []byte    `json:"der"` // PKCS#8
	rev     int64
}

// Keys manages signing keys in the store.
type Keys struct {
	Records fhir.Records
	Now     func() time.Time
	// Events, when set, hears of every key made or retired; Logger
	// (slog.Default() when nil) of a report that failed.
	Events SecurityEvents
	Logger *slog.Logger
}

// List returns every key, newest first.
func (k Keys) List(ctx context.Context) ([]SigningKey, error) {
	recs, err := k.Records.FindRecords(ctx, kindKey, "", "")
	if err != nil {
		return nil, fmt.Errorf("oauth: keys: %w", err)
	}
	out := make([]SigningKey, 0, len(recs))
	for _, r := range recs {
		var sk SigningKey
		if err := json.Unmarshal(r.Data, &sk); err != nil {
			return nil, fmt.Errorf("oauth: key %s: %w", r.Key, err)
		}
		sk.rev = r.Rev
		out = append(out, sk)
	}
	slices.SortFunc(out, func(a, b SigningKey) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// Rotate makes a new key the signing key and returns its kid.
func (k Keys) Rotate(ctx context.Context) (string, error) {
	return k.rotate(ctx, "signing key rotated")
}

func (k Keys) rotate(ctx context.Context, detail string) (string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pub)
	sk := SigningKey{ID: base64.RawURLEncoding.EncodeToString(sum[:12]), Created: k.Now().UTC(), DER: der}
	data, err := json.Marshal(sk)
	if err != nil {
		return "", err
	}
	if err := k.Records.PutRecord(ctx, &fhir.Record{Kind: kindKey, Key: sk.ID, Data: data}); err != nil {
		return "", fmt.Errorf("oauth: store key: %w", err)
	}
	reportChange(ctx, k.Events, k.Logger, k.Now, SecurityEvent{Kind: KeyRotated, Key: sk.ID, Success: true, Detail: detail})
	return sk.ID, nil
}

// Retire stops publishing a key; tokens it signed no longer verify. The
// current signing key cannot be retired: rotate first.
func (k Keys) Retire(ctx context.Context, kid string) error {
	keys, err := k.List(ctx)
	if err != nil {
		return err
	}
	cur, _ := current(keys)
	for _, sk := range keys {
		if sk.ID != kid {
			continue
		}
		if sk.ID == cur.ID {
			return errors.New("oauth: the current signing key cannot be retired; rotate first")
		}
		sk.Retired = true
		data, err := json.Marshal(sk)
		if err != nil {
			return err
		}
		if err := k.Records.PutRecord(ctx, &fhir.Record{Kind: kindKey, Key: sk.ID, Data: data, Rev: sk.rev}); err != nil {
			return err
		}
		reportChange(ctx, k.Events, k.Logger, k.Now, SecurityEvent{Kind: KeyRetired, Key: sk.ID, Success: true,
			Detail: "signing key retired; tokens it signed no longer verify"})
		return nil
	}
	return fmt.Errorf("oauth: no key %q: %w", kid, fhir.ErrNotFound)
}

// Ensure creates the first signing key when there is none.
func (k Keys) Ensure(ctx context.Context) error {
	keys, err := k.List(ctx)
	if err != nil {
		return err
	}
	if _, ok := current(keys); ok {
		return nil
	}
	_, err = k.rotate(ctx, "first signing key made")
	return err
}

func current(keys []SigningKey) (SigningKey, bool) {
	for _, sk := range keys {
		if !sk.Retired {
			return sk, true
		}
	}
	return SigningKey{}, false
}

// Signer returns the current signing key as fosite wants it.
func (k Keys) Signer(ctx context.Context) (any, error) {
	keys, err := k.List(ctx)
	if err != nil {
		return nil, err
	}
	sk, ok := current(keys)
	if !ok {
		return nil, errors.New("oauth: no signing key")
	}
	priv, err := x509.ParsePKCS8PrivateKey(sk.DER)
	if err != nil {
		return nil, err
	}
	return &jose.JSONWebKey{Key: priv, KeyID: sk.ID, Algorithm: string(jose.RS256), Use: "sig"}, nil
}

// JWKS returns the public keys not retired.
func (k Keys) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	keys, err := k.List(ctx)
	if err != nil {
		return nil, err
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, sk := range keys {
		if sk.Retired {
			continue
		}
		priv, err := x509.ParsePKCS8PrivateKey(sk.DER)
		if err != nil {
			return nil, err
		}
		rk, ok := priv.(*rsa.PrivateKey)
		if !ok {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &rk.PublicKey, KeyID: sk.ID, Algorithm: string(jose.RS256), Use: "sig"})
	}
	return set, nil
}

// hmacSecret returns the secret that signs opaque codes and tokens,
// creating it on first use; every process serving one store shares it.
func hmacSecret(ctx context.Context, rec fhir.Records) ([]byte, error) {
	for range 3 {
		r, err := rec.GetRecord(ctx, kindSecret, "hmac")
		if err == nil {
			var s struct{ Secret []byte }
			if err := json.Unmarshal(r.Data, &s); err != nil {
				return nil, err
			}
			return s.Secret, nil
		}
		if !errors.Is(err, fhir.ErrNotFound) {
			return nil, err
		}
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		data, _ := json.Marshal(struct{ Secret []byte }{secret})
		err = rec.PutRecord(ctx, &fhir.Record{Kind: kindSecret, Key: "hmac", Data: data})
		if err == nil {
			return secret, nil
		}
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return nil, err
		}
	}
	return nil, errors.New("oauth: could not settle the token secret")
}
