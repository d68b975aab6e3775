package oauth

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestTOTPAcceptsEachStepOnce: a code of the current step (or one step
// either way) is accepted once; that code again, or an older step's, is
// refused; a wrong code is refused.
func TestTOTPAcceptsEachStepOnce(t *testing.T) {
	st := storeForTest(t)
	now := time.Date(2026, 11, 26, 10, 0, 10, 0, time.UTC)
	as := Accounts{Records: st, Now: func() time.Time { return now }}
	ctx := context.Background()
	a, err := as.Add(ctx, "ann", "patient", "Patient/p1", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	uri, err := as.EnrollTOTP(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	secret := u.Query().Get("secret")
	if u.Scheme != "otpauth" || secret == "" || u.Query().Get("digits") != "6" || u.Query().Get("period") != "30" {
		t.Fatalf("uri %s", uri)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		name string
		code string
		ok   bool
	}{
		{"the previous step's code (clock skew) → accepted", code(now.Add(-30 * time.Second)), true},
		{"the current code → accepted", code(now), true},
		{"the current code again → refused (replay)", code(now), false},
		{"an older step's code → refused", code(now.Add(-30 * time.Second)), false},
		{"the next step's code (clock skew) → accepted", code(now.Add(30 * time.Second)), true},
		{"two steps ahead → refused", code(now.Add(60 * time.Second)), false},
		{"a wrong code → refused", "000000", false},
		{"not six digits → refused", "12345", false},
	} {
		err := as.VerifyTOTP(ctx, a.ID, c.code)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrBadCode)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
