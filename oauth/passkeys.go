package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/oncofhir/oncofhir/fhir"
)

const kindPasskey = "passkey"

// Passkey is one WebAuthn credential of an account: a discoverable
// credential made with user verification, under the name its owner gave
// it. It is found by its credential id (the record key) and by account.
type Passkey struct {
	Account  string    `json:"account"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"lastUsed,omitzero"`
	// Credential holds the public key, the sign count, the backup
	// eligible and backup state flags, and the clone warning.
	Credential webauthn.Credential `json:"credential"`
	rev        int64
}

// ID is the credential id as the record key and the page show it.
func (p *Passkey) ID() string { return base64.RawURLEncoding.EncodeToString(p.Credential.ID) }

// Synced tells whether the passkey may be copied to the owner's other
// devices (backup eligible): a software key in amr terms ("swk"), where
// a passkey bound to one device is a hardware key ("hwk").
func (p *Passkey) Synced() bool { return p.Credential.Flags.BackupEligible }

// AMR is what a sign-in with this passkey and user verification proved.
func (p *Passkey) AMR() []string {
	if p.Synced() {
		return []string{"swk", "user"}
	}
	return []string{"hwk", "user"}
}

// MaxPasskeyName bounds the name a user gives a passkey.
const MaxPasskeyName = 60

// cleanPasskeyName trims a name and refuses an empty or overlong one or
// one with control characters.
func cleanPasskeyName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyName {
		return "", false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	return name, true
}

// passkeys is the passkey registry over fhir.Records.
type passkeys struct {
	rec fhir.Records
}

func decodePasskey(r *fhir.Record) (*Passkey, error) {
	var p Passkey
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return nil, fmt.Errorf("oauth: passkey: %w", err)
	}
	p.rev = r.Rev
	return &p, nil
}

// get returns a passkey by credential id, or fhir.ErrNotFound.
func (ps passkeys) get(ctx context.Context, credID []byte) (*Passkey, error) {
	r, err := ps.rec.GetRecord(ctx, kindPasskey, base64.RawURLEncoding.EncodeToString(credID))
	if err != nil {
		return nil, err
	}
	return decodePasskey(r)
}

// of returns an account's passkeys, oldest first.
func (ps passkeys) of(ctx context.Context, account string) ([]*Passkey, error) {
	found, err := ps.rec.FindRecords(ctx, kindPasskey, "account", account)
	if err != nil {
		return nil, err
	}
	out := make([]*Passkey, 0, len(found))
	for _, r := range found {
		p, err := decodePasskey(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// put stores a passkey; a new one (rev 0) must not exist yet, a changed
// one must not have changed since it was read (fhir.ErrVersionConflict).
func (ps passkeys) put(ctx context.Context, p *Passkey) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	r := &fhir.Record{Kind: kindPasskey, Key: p.ID(), Data: data, Attrs: map[string]string{"account": p.Account}, Rev: p.rev}
	if err := ps.rec.PutRecord(ctx, r); err != nil {
		return err
	}
	p.rev = r.Rev
	return nil
}

func (ps passkeys) remove(ctx context.Context, p *Passkey) error {
	return ps.rec.DeleteRecord(ctx, kindPasskey, p.ID())
}

// has tells whether an account has at least one passkey.
func (ps passkeys) has(ctx context.Context, account string) (bool, error) {
	found, err := ps.rec.FindRecords(ctx, kindPasskey, "account", account)
	return len(found) > 0, err
}

// passkeyUser is an account as go-webauthn sees it. The user handle is
// the account id: random, stable, and no personal data.
type passkeyUser struct {
	acct  *Account
	creds []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return []byte(u.acct.ID) }
func (u passkeyUser) WebAuthnName() string                       { return u.acct.Username }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.acct.Username }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func userOf(acct *Account, keys []*Passkey) passkeyUser {
	u := passkeyUser{acct: acct}
	for _, k := range keys {
		u.creds = append(u.creds, k.Credential)
	}
	return u
}

// newRelyingParty configures WebAuthn for the server's base URL: the RP
// ID is its host, the one origin allowed its scheme://host[:port]. A base
// URL whose host cannot be an RP ID (an IP address) leaves passkeys off;
// the pages say so.
func newRelyingParty(base string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("oauth: passkeys: base URL %q: no host", base)
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:                  u.Hostname(),
		RPDisplayName:         "oncofhir",
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ceremonyLife},
			Registration: webauthn.TimeoutConfig{Timeout: ceremonyLife},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: passkeys: %w", err)
	}
	return rp, nil
}

// errPasskeysOff answers the passkey endpoints of a server whose base
// URL cannot be an RP ID.
var errPasskeysOff = errors.New("oauth: passkeys are not available at this server's address")

// decodeCredID reads a credential id as the page writes it.
func decodeCredID(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || len(b) > 1023 {
		return nil, errors.New("oauth: not a credential id")
	}
	return b, nil
}
