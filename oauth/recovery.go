package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// RecoveryCodes is how many one-time recovery codes an account gets.
const RecoveryCodes = 10

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode is 80 random bits, written as four groups of four
// letters and digits (easy to read out and type).
func newRecoveryCode() string {
	s := strings.ToLower(codeEncoding.EncodeToString(randomBytes(10)))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// normalizeCode accepts a code typed with or without dashes, spaces or
// capitals.
func normalizeCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	return strings.NewReplacer("-", "", " ", "").Replace(code)
}

func hashCode(code string) string {
	sum := sha256.Sum256([]byte(normalizeCode(code)))
	return codeEncoding.EncodeToString(sum[:])
}

// NewRecoveryCodes replaces an account's recovery codes and returns the
// new ones, to show once; only their hashes are kept (80 random bits
// each, so a fast hash is enough).
func (as Accounts) NewRecoveryCodes(ctx context.Context, username string) ([]string, error) {
	codes := make([]string, RecoveryCodes)
	hashes := make([]string, RecoveryCodes)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = hashCode(codes[i])
	}
	for {
		a, err := as.ByUsername(ctx, username)
		if err != nil {
			return nil, err
		}
		a.Recovery = hashes
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue
		}
		return codes, err
	}
}

// UseRecoveryCode accepts one of an account's recovery codes once, and
// returns how many remain.
func (as Accounts) UseRecoveryCode(ctx context.Context, accountID, code string) (int, error) {
	want := hashCode(code)
	for {
		a, err := as.Get(ctx, accountID)
		if err != nil {
			return 0, err
		}
		if a.Disabled || len(normalizeCode(code)) != 16 {
			return 0, ErrBadCode
		}
		found := -1
		for i, h := range a.Recovery {
			if subtle.ConstantTimeCompare([]byte(h), []byte(want)) == 1 {
				found = i
			}
		}
		if found < 0 {
			return 0, ErrBadCode
		}
		a.Recovery = append(a.Recovery[:found:found], a.Recovery[found+1:]...)
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue // a racing use: read again; a second use then fails
		}
		return len(a.Recovery), err
	}
}
