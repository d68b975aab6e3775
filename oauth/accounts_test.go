package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// storeForTest is an embedded store in a temporary directory, closed
// when the test ends.
func storeForTest(t *testing.T) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPasswordHashing(t *testing.T) {
	const pw = "correct horse battery"
	a, b := hashPassword(pw), hashPassword(pw)
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"the same password hashes differently each time (a fresh salt)", a != b},
		{"argon2id in PHC form with m=19 MiB, t=2, p=1", strings.HasPrefix(a, "$argon2id$v=19$m=19456,t=2,p=1$")},
		{"the hash does not contain the password", !strings.Contains(a, pw)},
		{"the password verifies against either hash", checkPassword(a, pw) && checkPassword(b, pw)},
		{"a wrong password fails", !checkPassword(a, pw+"!") && !checkPassword(a, "")},
		{"a password differing only in case fails", !checkPassword(a, strings.ToUpper(pw))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("hashes %q and %q", a, b)
			}
		})
	}
}

// TestMalformedPasswordHashNeverVerifies: a damaged stored hash refuses
// every password; it neither panics nor lets anything in.
func TestMalformedPasswordHashNeverVerifies(t *testing.T) {
	const pw = "correct horse battery"
	good := hashPassword(pw)
	parts := strings.Split(good, "$") // "", argon2id, v=19, params, salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for _, c := range []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", pw},
		{"argon2i instead of argon2id", with(1, "argon2i")},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"a part missing", strings.Join(parts[:5], "$")},
		{"parameters unreadable", with(3, "m=lots,t=2,p=1")},
		{"salt not base64", with(4, "!!!")},
		{"key not base64", with(5, "!!!")},
		{"empty key", with(5, "")},
		{"zero iterations", with(3, "m=19456,t=0,p=1")},
		{"zero threads", with(3, "m=19456,t=2,p=0")},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("checkPassword panicked: %v", r)
				}
			}()
			if checkPassword(c.hash, pw) || checkPassword(c.hash, "") {
				t.Errorf("hash %q verified", c.hash)
			}
		})
	}
}

// TestAuthenticate: every failed sign-in is the same error, whatever
// went wrong, so a caller cannot tell which usernames exist.
func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	var revoked []string
	as := Accounts{Records: storeForTest(t), Now: time.Now, Revoke: func(_ context.Context, id string) error {
		revoked = append(revoked, id)
		return nil
	}}
	const pw = "correct horse battery"
	ann, err := as.Add(ctx, "Ann", "patient", "Patient/p1", pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.Add(ctx, "dora", "nurse", "", pw); err != nil {
		t.Fatal(err)
	}
	if err := as.Disable(ctx, "dora"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, user, pw string
		ok             bool
	}{
		{"right username and password → the account", "ann", pw, true},
		{"username in another case and padded → the account", " ANN ", pw, true},
		{"wrong password → ErrBadCredentials", "ann", "correct horse batter", false},
		{"empty password → ErrBadCredentials", "ann", "", false},
		{"unknown username → the same ErrBadCredentials", "nobody", pw, false},
		{"empty username → the same ErrBadCredentials", "", pw, false},
		{"disabled account with the right password → the same ErrBadCredentials", "dora", pw, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := as.Authenticate(ctx, c.user, c.pw)
			if c.ok {
				if err != nil || a == nil || a.ID != ann.ID {
					t.Errorf("got %v, %v", a, err)
				}
				return
			}
			if err != ErrBadCredentials || a != nil {
				t.Errorf("got %v, %v; want nil, ErrBadCredentials itself", a, err)
			}
		})
	}
	t.Run("disabling ends the account's sessions and tokens", func(t *testing.T) {
		dora, err := as.ByUsername(ctx, "dora")
		if err != nil || !dora.Disabled || len(revoked) != 1 || revoked[0] != dora.ID {
			t.Errorf("dora %+v, revoked %v", dora, revoked)
		}
	})
	t.Run("a new password replaces the old and ends the sessions", func(t *testing.T) {
		if err := as.SetPassword(ctx, "ann", "short"); err == nil {
			t.Error("a short new password was accepted")
		}
		if err := as.SetPassword(ctx, "ann", "another long passphrase"); err != nil {
			t.Fatal(err)
		}
		if _, err := as.Authenticate(ctx, "ann", pw); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("old password: %v", err)
		}
		if _, err := as.Authenticate(ctx, "ann", "another long passphrase"); err != nil {
			t.Errorf("new password: %v", err)
		}
		if len(revoked) != 2 || revoked[1] != ann.ID {
			t.Errorf("revoked %v", revoked)
		}
	})
}
