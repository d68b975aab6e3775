package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/oauth"
)

// resetCmd: fhirserver user reset --username NAME --verified-by STAFF
// --method METHOD: a staff-assisted reset of a lost second factor (the
// command line's form of the page at /oauth/reset). It removes the
// account's authenticator app, recovery codes and passkeys, ends its
// sessions, trusted devices and tokens, unlocks it, prints a one-time
// set-up link once, and tells the owner at their phone and email; the
// audit trail records who verified the identity and how.
func resetCmd(ctx context.Context, args []string, out io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("user reset", flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var username, verifiedBy, method string
	var life time.Duration
	fs.StringVar(&username, "username", "", "the account whose second factor was lost")
	fs.StringVar(&verifiedBy, "verified-by", "", "username of the staff member (front desk, nurse or administrator) who checked the person's identity")
	fs.StringVar(&method, "method", "", "how the identity was checked: "+strings.Join(oauth.VerificationMethods, ", "))
	fs.StringVar(&cfg.BaseURL, "base-url", env("FHIR_BASE_URL", "http://localhost:8080"), "the server's public URL, for the link (FHIR_BASE_URL)")
	fs.DurationVar(&life, "valid", oauth.DefaultEnrollLinkLife, "how long the set-up link works (at most 24h)")
	fs.StringVar(&cfg.MessageFile, "message-file", env("FHIR_MESSAGE_FILE", ""), messageFileUsage)
	rec, events, done, err := openAudited(ctx, fs, args, &cfg)
	if err != nil {
		return err
	}
	defer done()
	if username == "" || verifiedBy == "" || method == "" {
		return errors.New("give --username, --verified-by and --method")
	}
	accounts := oauth.Accounts{Records: rec, Now: time.Now, Events: events, Revoke: func(ctx context.Context, id string) error {
		return oauth.RevokeAccount(ctx, rec, id)
	}}
	if accounts.Sender, err = cfg.sender(); err != nil {
		return err
	}
	verifier, err := accounts.ByUsername(ctx, verifiedBy)
	if err != nil {
		return fmt.Errorf("--verified-by %q: %w", verifiedBy, err)
	}
	a, token, err := accounts.Reset(ctx, username, oauth.Reset{VerifiedBy: verifier, Method: method, LinkLife: life})
	if err != nil {
		return err
	}
	told := "no notice sent (no --message-file)"
	if accounts.Sender != nil {
		told = "notice sent to " + oauth.MaskedContact(a)
	}
	fmt.Fprintf(out, "user %s reset: second factor removed, signed out everywhere, unlocked; %s\n", a.Username, told)
	fmt.Fprintf(out, "set-up link (one use, valid %s; shown once):\n  %s\n", life, oauth.EnrollURL(cfg.BaseURL, token))
	return nil
}
