package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/oncofhir/oncofhir/oauth"
)

// enrollLinkCmd: fhirserver user enroll-link --username NAME: a one-time,
// short-lived link that lets an account with no second factor yet (a
// passkey counts as one) set one up without its password
// (staff-assisted enrollment). An administrator's account gets none, nor
// does one with a factor: a lost factor is replaced by fhirserver user
// reset, which records how the identity was checked. The link is kept
// hashed, recorded in the audit trail, shown once, and the owner is told
// at their phone and email.
func enrollLinkCmd(ctx context.Context, args []string, out io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("user enroll-link", flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var username string
	var life time.Duration
	fs.StringVar(&username, "username", "", "the account that will set up a second factor")
	fs.StringVar(&cfg.BaseURL, "base-url", env("FHIR_BASE_URL", "http://localhost:8080"), "the server's public URL, for the link (FHIR_BASE_URL)")
	fs.DurationVar(&life, "valid", oauth.DefaultEnrollLinkLife, "how long the link works (at most 24h)")
	fs.StringVar(&cfg.MessageFile, "message-file", env("FHIR_MESSAGE_FILE", ""), messageFileUsage)
	rec, events, done, err := openAudited(ctx, fs, args, &cfg)
	if err != nil {
		return err
	}
	defer done()
	if username == "" {
		return errors.New("give the account with --username")
	}
	accounts := oauth.Accounts{Records: rec, Now: time.Now, Events: events}
	if accounts.Sender, err = cfg.sender(); err != nil {
		return err
	}
	a, err := accounts.ByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	token, err := oauth.EnrollLinks{Records: rec, Now: time.Now}.IssueFor(ctx, nil, a, life)
	if errors.Is(err, oauth.ErrLinkTarget) {
		return fmt.Errorf("user %q: an administrator's account gets no set-up link", username)
	} else if err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	if err := events.Security(ctx, oauth.SecurityEvent{Kind: oauth.EnrollmentLinkIssued, Success: true, Time: time.Now().UTC(),
		Detail: "enrollment link issued from the command line for account " + a.ID}); err != nil {
		return fmt.Errorf("the link could not be recorded, so it is not shown: %w", err)
	}
	accounts.NotifyEnrollLink(ctx, a)
	fmt.Fprintf(out, "enrollment link for %s (one use, valid %s; shown once):\n  %s\n", a.Username, life, oauth.EnrollURL(cfg.BaseURL, token))
	return nil
}
