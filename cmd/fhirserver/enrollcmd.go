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
// short-lived link that lets the account set up a second factor without
// its password (staff-assisted enrollment, or a lost phone). The link is
// kept hashed, recorded in the audit trail, and shown once.
func enrollLinkCmd(ctx context.Context, args []string, out io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("user enroll-link", flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var username string
	var life time.Duration
	fs.StringVar(&username, "username", "", "the account that will set up a second factor")
	fs.StringVar(&cfg.BaseURL, "base-url", env("FHIR_BASE_URL", "http://localhost:8080"), "the server's public URL, for the link (FHIR_BASE_URL)")
	fs.DurationVar(&life, "valid", oauth.DefaultEnrollLinkLife, "how long the link works (at most 24h)")
	rec, events, done, err := openAudited(ctx, fs, args, &cfg)
	if err != nil {
		return err
	}
	defer done()
	if username == "" {
		return errors.New("give the account with --username")
	}
	a, err := oauth.Accounts{Records: rec, Now: time.Now}.ByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	token, err := oauth.EnrollLinks{Records: rec, Now: time.Now}.Issue(ctx, a, "", life)
	if err != nil {
		return err
	}
	if err := events.Security(ctx, oauth.SecurityEvent{Kind: oauth.EnrollmentLinkIssued, Success: true, Time: time.Now().UTC(),
		Detail: "enrollment link issued from the command line for account " + a.ID}); err != nil {
		return fmt.Errorf("the link could not be recorded, so it is not shown: %w", err)
	}
	fmt.Fprintf(out, "enrollment link for %s (one use, valid %s; shown once):\n  %s\n", a.Username, life, oauth.EnrollURL(cfg.BaseURL, token))
	return nil
}
