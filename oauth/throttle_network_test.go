package oauth

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestAddressLimitsKeyOnTheNetwork: an IPv6 client holds a whole /64, so
// the per-address limits count its /64 together: wrong passwords from
// twenty addresses of one /64 slow the next from a twenty-first; another
// /64 is not slowed. An IPv4 address counts alone (its neighbours may be
// other people behind other NATs).
func TestAddressLimitsKeyOnTheNetwork(t *testing.T) {
	as, _, _ := throttleAccounts(t)
	try := func(addr string, i int) error {
		_, err := as.Authenticate(withAddress(context.Background(), addr), fmt.Sprintf("user%d", i), "wrong")
		return err
	}
	for i := range addrFreeAttempts {
		if err := try(fmt.Sprintf("2001:db8:1:2::%x", i+1), i); !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrThrottled) {
			t.Fatalf("IPv6 failure %d: %v", i+1, err)
		}
	}
	if err := try("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 100); !errors.Is(err, ErrThrottled) {
		t.Errorf("another address of the same /64: %v, want ErrThrottled", err)
	}
	if err := try("2001:db8:1:3::1", 101); errors.Is(err, ErrThrottled) {
		t.Errorf("another /64: %v", err)
	}

	for i := range addrFreeAttempts {
		if err := try("203.0.113.9", 200+i); !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrThrottled) {
			t.Fatalf("IPv4 failure %d: %v", i+1, err)
		}
	}
	if err := try("203.0.113.9", 300); !errors.Is(err, ErrThrottled) {
		t.Errorf("the same IPv4 address: %v, want ErrThrottled", err)
	}
	if err := try("203.0.113.10", 301); errors.Is(err, ErrThrottled) {
		t.Errorf("the next IPv4 address: %v", err)
	}

	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
		{"::ffff:203.0.113.9", "203.0.113.9"},
	} {
		if x, y := as.addrCounter("recovery", c.a).key, as.addrCounter("recovery", c.b).key; x != y {
			t.Errorf("recovery-code keys of %s and %s differ: %q, %q", c.a, c.b, x, y)
		}
	}
	if x, y := as.addrCounter("recovery", "203.0.113.9").key, as.addrCounter("recovery", "203.0.113.10").key; x == y {
		t.Errorf("two IPv4 addresses share the key %q", x)
	}
}

// TestAddressPasskeyCeremoniesKeyOnTheNetwork: the passkey ceremony
// limit counts an IPv6 /64 together, an IPv4 address alone.
func TestAddressPasskeyCeremoniesKeyOnTheNetwork(t *testing.T) {
	cs := startCodes(t)
	ctx := context.Background()
	for i := range passkeyCeremonies {
		if ok, err := cs.allowCeremony(ctx, fmt.Sprintf("2001:db8:5:6::%x", i+1)); !ok || err != nil {
			t.Fatalf("ceremony %d: %v, %v", i+1, ok, err)
		}
	}
	if ok, err := cs.allowCeremony(ctx, "2001:db8:5:6::ffff"); ok || err != nil {
		t.Errorf("another address of the same /64: %v, %v; want refused", ok, err)
	}
	for range passkeyCeremonies {
		if ok, err := cs.allowCeremony(ctx, "198.51.100.4"); !ok || err != nil {
			t.Fatalf("IPv4 ceremony: %v, %v", ok, err)
		}
	}
	if ok, err := cs.allowCeremony(ctx, "198.51.100.5"); !ok || err != nil {
		t.Errorf("the next IPv4 address: %v, %v; want allowed", ok, err)
	}
}
