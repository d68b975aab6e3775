package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/oncofhir/oncofhir/fhir"
)

// TOTP as authenticator apps expect it: 30-second steps, 6 digits,
// SHA-1; one step of clock skew either way; each step's code accepted
// once only (the last accepted step is kept with the account, which
// pquerna/otp does not do).
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// ErrBadCode is the one answer to a wrong, expired or replayed code.
var ErrBadCode = errors.New("oauth: the code is not right")

// EnrollTOTP gives an account a new TOTP secret and returns the
// otpauth:// URI to show once (as text or a QR code).
func (as Accounts) EnrollTOTP(ctx context.Context, username string) (string, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "oncofhir", AccountName: strings.ToLower(strings.TrimSpace(username)),
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	_, err = as.changeAndRevoke(ctx, username, func(a *Account) {
		a.TOTPSecret, a.TOTPLastStep = key.Secret(), 0
	})
	if err != nil {
		return "", err
	}
	return key.URL(), nil
}

// totpStep is the step of the code that matches, or -1.
func totpStep(secret, code string, now time.Time) int64 {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return -1
	}
	found := int64(-1)
	for _, d := range []int64{-1, 0, 1} {
		t := now.Add(time.Duration(d) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts)
		if err != nil {
			return -1
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = t.Unix() / 30
		}
	}
	return found
}

// VerifyTOTP checks a code for an account and records its step, so the
// same code (or an older one) is refused from then on, in every process.
func (as Accounts) VerifyTOTP(ctx context.Context, accountID, code string) error {
	for range maxRetries {
		a, err := as.Get(ctx, accountID)
		if err != nil {
			return err
		}
		if a.TOTPSecret == "" || a.Disabled {
			return ErrBadCode
		}
		step := totpStep(a.TOTPSecret, code, as.Now())
		if step < 0 || step <= a.TOTPLastStep {
			return ErrBadCode
		}
		a.TOTPLastStep = step
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue // a racing use of a code: read again; a replay then fails
		}
		return err
	}
	return errBusy
}
