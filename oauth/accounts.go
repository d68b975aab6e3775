package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/oncofhir/oncofhir/fhir"
)

const kindAccount = "account"

// Roles an account may hold. What each may do comes with the access
// control rules; here a role decides the launch context (a patient gets
// their own record, others pick one).
var Roles = []string{"patient", "proxy", "oncologist", "nurse", "pharmacist", "social-worker", "front-desk", "billing", "auditor", "admin"}

// Account is a person who signs in.
type Account struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	FHIRUser string `json:"fhirUser,omitempty"` // Patient/ID, Practitioner/ID or RelatedPerson/ID
	Password string `json:"password"`           // argon2id, PHC string form
	Disabled bool   `json:"disabled,omitempty"`
	// TOTPSecret is the account's authenticator-app secret ("" none): a
	// shared secret the server must read, so it cannot be hashed.
	TOTPSecret   string `json:"totpSecret,omitempty"`
	TOTPLastStep int64  `json:"totpLastStep,omitempty"` // the last 30-second step accepted
	// Recovery holds the hashes of the unused recovery codes.
	Recovery []string `json:"recovery,omitempty"`
	// Deferrals counts the times the account put off setting up a
	// second factor.
	Deferrals int `json:"deferrals,omitempty"`
	// Phone (E.164, "+15555550123") and Email are verified destinations
	// for fallback sign-in codes and security notices ("" none).
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
	// EnrollByLink: after a staff reset, a second factor may be set up
	// only through the staff link (not by a password alone) until the
	// account has one again.
	EnrollByLink bool      `json:"enrollByLink,omitempty"`
	Created      time.Time `json:"created"`
	rev          int64
}

// HasTOTP tells whether the account signs in with an authenticator app too.
func (a *Account) HasTOTP() bool { return a.TOTPSecret != "" }

// HasSecondFactor tells whether sign-in asks for a second factor: an
// authenticator app, or recovery codes standing in for one.
func (a *Account) HasSecondFactor() bool { return a.HasTOTP() || len(a.Recovery) > 0 }

// Staff tells whether the role works with many patients' records.
func (a *Account) Staff() bool { return a.Role != "patient" && a.Role != "proxy" }

// Accounts is the account registry.
type Accounts struct {
	Records fhir.Records
	Now     func() time.Time
	// Revoke ends an account's login sessions, codes and tokens.
	Revoke func(ctx context.Context, accountID string) error
	// Sender, when set, carries notices to the account's phone and email
	// (notify.go).
	Sender Sender
	// Events, when set, hears of every account disabled; Logger
	// (slog.Default() when nil) of a report that failed.
	Events SecurityEvents
	Logger *slog.Logger
}

var (
	usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)
	fhirUserPattern = regexp.MustCompile(`^(Patient|Practitioner|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$`)
	// ErrAccountExists is returned by Add for a username already taken.
	ErrAccountExists = errors.New("oauth: an account with this username exists")
)

// MinPasswordLength follows NIST SP 800-63B for passwords used with a
// second factor.
const MinPasswordLength = 8

// Add creates an account with a password.
func (as Accounts) Add(ctx context.Context, username, role, fhirUser, password string) (*Account, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if !usernamePattern.MatchString(username) {
		return nil, errors.New("username: 1 to 64 lower-case letters, digits, '.', '_', '@' or '-'")
	}
	if !validRole(role) {
		return nil, fmt.Errorf("role %q: use one of %s", role, strings.Join(Roles, ", "))
	}
	if fhirUser != "" && !fhirUserPattern.MatchString(fhirUser) {
		return nil, errors.New("fhir user: Patient/ID, Practitioner/ID or RelatedPerson/ID")
	}
	if (role == "patient" && !strings.HasPrefix(fhirUser, "Patient/")) || (role == "proxy" && !strings.HasPrefix(fhirUser, "RelatedPerson/")) {
		return nil, errors.New("a patient account needs --fhir-user Patient/ID; a proxy account RelatedPerson/ID")
	}
	if len([]rune(password)) < MinPasswordLength {
		return nil, fmt.Errorf("password: at least %d characters", MinPasswordLength)
	}
	if _, err := as.ByUsername(ctx, username); err == nil {
		return nil, ErrAccountExists
	} else if !errors.Is(err, fhir.ErrNotFound) {
		return nil, err
	}
	a := &Account{ID: randomToken(12), Username: username, Role: role, FHIRUser: fhirUser,
		Password: hashPassword(password), Created: as.Now().UTC()}
	return a, as.put(ctx, a)
}

func validRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

func (as Accounts) put(ctx context.Context, a *Account) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	r := &fhir.Record{Kind: kindAccount, Key: a.ID, Data: data, Attrs: map[string]string{"username": a.Username}, Rev: a.rev}
	if err := as.Records.PutRecord(ctx, r); err != nil {
		return err
	}
	a.rev = r.Rev
	return nil
}

// Get returns an account by id.
func (as Accounts) Get(ctx context.Context, id string) (*Account, error) {
	r, err := as.Records.GetRecord(ctx, kindAccount, id)
	if err != nil {
		return nil, err
	}
	return decodeAccount(r)
}

func decodeAccount(r *fhir.Record) (*Account, error) {
	var a Account
	if err := json.Unmarshal(r.Data, &a); err != nil {
		return nil, fmt.Errorf("oauth: account: %w", err)
	}
	a.rev = r.Rev
	return &a, nil
}

// ByUsername returns an account by username, or fhir.ErrNotFound.
func (as Accounts) ByUsername(ctx context.Context, username string) (*Account, error) {
	found, err := as.Records.FindRecords(ctx, kindAccount, "username", strings.ToLower(strings.TrimSpace(username)))
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fhir.ErrNotFound
	}
	return decodeAccount(found[0])
}

// List returns every account, by id.
func (as Accounts) List(ctx context.Context) ([]*Account, error) {
	found, err := as.Records.FindRecords(ctx, kindAccount, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]*Account, 0, len(found))
	for _, r := range found {
		a, err := decodeAccount(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Disable stops an account from signing in and ends its sessions and
// tokens at once.
func (as Accounts) Disable(ctx context.Context, username string) error {
	a, err := as.changeAndRevoke(ctx, username, func(a *Account) { a.Disabled = true })
	if a == nil {
		return err
	}
	e := SecurityEvent{Kind: UserDisabled, Account: a.ID, Role: a.Role, Success: err == nil,
		Detail: "account disabled; its sessions and tokens ended"}
	if err != nil {
		e.Detail = "account disabled; ending its sessions and tokens failed"
	}
	reportChange(ctx, as.Events, as.Logger, as.Now, e)
	return err
}

// changeAndRevoke applies change to an account (retrying when a
// concurrent writer got there first), then ends its sessions and tokens.
// It returns the account once changed, even when ending them failed.
func (as Accounts) changeAndRevoke(ctx context.Context, username string, change func(*Account)) (*Account, error) {
	for range maxRetries {
		a, err := as.ByUsername(ctx, username)
		if err != nil {
			return nil, err
		}
		change(a)
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if as.Revoke != nil {
			// Trusted devices end too, each recorded.
			return a, errors.Join(as.endDevices(ctx, a), as.Revoke(ctx, a.ID))
		}
		return a, nil
	}
	return nil, errBusy
}

// dummyHash is verified against when the username is unknown, so that
// an unknown user costs as much time as a wrong password.
var dummyHash = hashPassword("not a password of anyone")

// Authenticate checks a username and password. Every failure is the same
// error, whatever its cause (no user enumeration).
func (as Accounts) Authenticate(ctx context.Context, username, password string) (*Account, error) {
	a, _, err := as.authenticate(ctx, username, password)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Why a sign-in failed, as the audit trail records it (the person
// signing in always reads the same answer).
const (
	failUnknown   = "unknown username"
	failPassword  = "wrong password"
	failDisabled  = "account disabled"
	failThrottled = "throttled after repeated failures"
)

// authenticate is Authenticate for the sign-in page: it also returns
// the account the username names (nil when none), and why it failed
// (one of the fail constants), for the audit trail.
func (as Accounts) authenticate(ctx context.Context, username, password string) (*Account, string, error) {
	a, err := as.ByUsername(ctx, username)
	if err != nil && !errors.Is(err, fhir.ErrNotFound) {
		return nil, "", err
	}
	// The attempt is counted as failed before the password is checked
	// (throttle.go), so attempts sent at once cannot all pass the backoff.
	at, err := as.reserve(ctx, username, a != nil)
	if errors.Is(err, ErrThrottled) {
		return a, failThrottled, ErrThrottled
	} else if err != nil {
		return nil, "", err
	}
	encoded := dummyHash
	if a != nil {
		encoded = a.Password
	}
	ok, err := checkPasswordBounded(ctx, encoded, password)
	if err != nil {
		return nil, "", err
	}
	if a == nil || !ok || a.Disabled {
		as.failed(ctx, at, a)
		why := failDisabled
		if a == nil {
			why = failUnknown
		} else if !ok {
			why = failPassword
		}
		return a, why, ErrBadCredentials
	}
	return a, "", as.succeeded(ctx, username, at)
}

// ErrBadCredentials is the one answer to a failed sign-in.
var ErrBadCredentials = errors.New("oauth: the username or password is not right")

// argon2id parameters (OWASP: m=19 MiB, t=2, p=1 at least).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

func hashPassword(pw string) string {
	salt := randomBytes(16)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

func checkPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	// A damaged hash refuses rather than panic in argon2 (zero passes,
	// zero threads, an empty key) or compare a few bytes.
	if t < 1 || p < 1 || len(want) < 16 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// SetPassword replaces an account's password and ends its sessions and
// tokens.
func (as Accounts) SetPassword(ctx context.Context, username, password string) error {
	if len([]rune(password)) < MinPasswordLength {
		return fmt.Errorf("password: at least %d characters", MinPasswordLength)
	}
	hash := hashPassword(password)
	_, err := as.changeAndRevoke(ctx, username, func(a *Account) { a.Password = hash })
	return err
}

// SetContact sets an account's verified phone and email (nil leaves one
// as it is, "" removes it); the caller has verified them. It returns the
// account as it was before and as it is now.
func (as Accounts) SetContact(ctx context.Context, username string, phone, email *string) (before, after *Account, err error) {
	var p, e string
	if phone != nil {
		if p, err = NormalizePhone(*phone); err != nil {
			return nil, nil, err
		}
	}
	if email != nil {
		if e, err = NormalizeEmail(*email); err != nil {
			return nil, nil, err
		}
	}
	for range maxRetries {
		a, err := as.ByUsername(ctx, username)
		if err != nil {
			return nil, nil, err
		}
		old := *a
		if phone != nil {
			a.Phone = p
		}
		if email != nil {
			a.Email = e
		}
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return &old, a, nil
	}
	return nil, nil, errBusy
}
