package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRecoveryCodesWorkOnceEach: ten codes of 80 bits, kept hashed; each
// signs in once (typed with or without dashes and capitals); making new
// ones ends the old.
func TestRecoveryCodesWorkOnceEach(t *testing.T) {
	st := storeForTest(t)
	as := Accounts{Records: st, Now: time.Now}
	ctx := context.Background()
	a, err := as.Add(ctx, "ann", "patient", "Patient/p1", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	codes, err := as.NewRecoveryCodes(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodes || len(normalizeCode(codes[0])) != 16 {
		t.Fatalf("codes %v", codes)
	}
	stored, _ := as.Get(ctx, a.ID)
	for _, h := range stored.Recovery {
		for _, c := range codes {
			if strings.Contains(h, normalizeCode(c)) {
				t.Fatal("a code is stored as itself")
			}
		}
	}
	if left, err := as.UseRecoveryCode(ctx, a.ID, strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))); err != nil || left != 9 {
		t.Fatalf("first use: %d %v", left, err)
	}
	if _, err := as.UseRecoveryCode(ctx, a.ID, codes[3]); !errors.Is(err, ErrBadCode) {
		t.Errorf("second use of one code: %v", err)
	}
	if _, err := as.UseRecoveryCode(ctx, a.ID, "aaaa-bbbb-cccc-dddd"); !errors.Is(err, ErrBadCode) {
		t.Errorf("a made-up code: %v", err)
	}
	if _, err := as.NewRecoveryCodes(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := as.UseRecoveryCode(ctx, a.ID, codes[4]); !errors.Is(err, ErrBadCode) {
		t.Errorf("an old code after new ones were made: %v", err)
	}
}
