package oauth

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/oncofhir/oncofhir/fhir"
)

// clock is a test clock that moves a second at every reading, so keys
// made one after another have distinct creation times.
func clock() func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func publishedKids(t *testing.T, k Keys) []string {
	t.Helper()
	set, err := k.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, jwk := range set.Keys {
		if !jwk.IsPublic() || jwk.Algorithm != "RS256" || jwk.Use != "sig" {
			t.Errorf("published key %s: public %v, alg %s, use %s", jwk.KeyID, jwk.IsPublic(), jwk.Algorithm, jwk.Use)
		}
		out = append(out, jwk.KeyID)
	}
	return out
}

func signerKid(t *testing.T, k Keys) string {
	t.Helper()
	s, err := k.Signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.(*jose.JSONWebKey).KeyID
}

// TestKeyLifecycle: the newest key not retired signs; every key not
// retired is published; the signing key cannot be retired.
func TestKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	k := Keys{Records: storeForTest(t), Now: clock()}
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first := publishedKids(t, k)
	if len(first) != 1 || signerKid(t, k) != first[0] {
		t.Fatalf("after Ensure twice: published %v, signer %s; want one key that signs", first, signerKid(t, k))
	}
	old := first[0]
	cur, err := k.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"rotate makes the new key the signer", func(t *testing.T) bool { return signerKid(t, k) == cur && cur != old }},
		{"both keys are published", func(t *testing.T) bool {
			got := publishedKids(t, k)
			return len(got) == 2 && got[0] == cur && got[1] == old
		}},
		{"retiring the signing key is refused", func(t *testing.T) bool { return k.Retire(ctx, cur) != nil && len(publishedKids(t, k)) == 2 }},
		{"retiring an unknown key is not found", func(t *testing.T) bool { return errors.Is(k.Retire(ctx, "no-such-kid"), fhir.ErrNotFound) }},
		{"retiring the old key stops publishing it", func(t *testing.T) bool {
			if err := k.Retire(ctx, old); err != nil {
				t.Log(err)
				return false
			}
			got := publishedKids(t, k)
			return len(got) == 1 && got[0] == cur
		}},
		{"the retired key is still listed, marked retired", func(t *testing.T) bool {
			list, err := k.List(ctx)
			return err == nil && len(list) == 2 && list[1].ID == old && list[1].Retired && !list[0].Retired
		}},
		{"Ensure with a signing key adds none", func(t *testing.T) bool {
			list, _ := k.List(ctx)
			return k.Ensure(ctx) == nil && len(publishedKids(t, k)) == 1 && len(list) == 2
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok(t) {
				t.Fail()
			}
		})
	}
}

// TestTokenSecretIsShared: every process serving one store signs codes
// and tokens with the same secret, made once.
func TestTokenSecretIsShared(t *testing.T) {
	ctx := context.Background()
	rec := storeForTest(t)
	a, err := hmacSecret(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hmacSecret(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || !bytes.Equal(a, b) {
		t.Errorf("secrets %x and %x", a, b)
	}
	c, _ := hmacSecret(ctx, storeForTest(t))
	if bytes.Equal(a, c) {
		t.Error("two stores share a secret")
	}
}
