package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/oauth"
)

// openRecords opens the configured engine for an administrative command;
// it works beside a running server on the same --data or --mongo-uri.
func openRecords(ctx context.Context, cfg Config) (fhir.Store, fhir.Records, error) {
	var st fhir.Store
	var err error
	if cfg.MongoURI != "" {
		st, err = mongostore.Open(ctx, cfg.MongoURI, "")
	} else {
		st, err = sqlitestore.Open(cfg.DataDir)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	rec, ok := st.(fhir.Records)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("store %T keeps no records", st)
	}
	return st, rec, nil
}

// parseAndOpen parses an administrative command's flags and opens the
// store they name.
func parseAndOpen(ctx context.Context, fs *flag.FlagSet, args []string, cfg *Config) (fhir.Store, fhir.Records, error) {
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return openRecords(ctx, *cfg)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// storeFlags adds --data and --mongo-uri (and their FHIR_* variables).
func storeFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.DataDir, "data", env("FHIR_DATA", "./data"), "directory of the embedded store (FHIR_DATA)")
	fs.StringVar(&c.MongoURI, "mongo-uri", env("FHIR_MONGO_URI", ""), "MongoDB URI (FHIR_MONGO_URI, or FHIR_MONGO_URI_FILE)")
	fs.StringVar(&c.AuditKeyFile, "audit-key-file", env("FHIR_AUDIT_KEY_FILE", ""), "the Ed25519 key that signs audit checkpoints; default audit-signing.key in --data (FHIR_AUDIT_KEY_FILE)")
}

// openAudited parses an administrative command's flags and opens its
// store with a Recorder of its own, so that the command's security events
// (clients, accounts, keys) reach the audit trail; done closes both.
func openAudited(ctx context.Context, fs *flag.FlagSet, args []string, cfg *Config) (fhir.Records, oauth.SecurityEvents, func(), error) {
	st, rec, err := parseAndOpen(ctx, fs, args, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := audit.LoadOrCreateKey(cfg.auditKeyPath())
	if err != nil {
		st.Close()
		return nil, nil, nil, fmt.Errorf("audit signing key: %w", err)
	}
	r, err := audit.NewRecorder(ctx, audit.Config{Store: st, Records: rec, Key: key})
	if err != nil {
		st.Close()
		return nil, nil, nil, fmt.Errorf("audit trail: %w", err)
	}
	done := func() {
		_ = r.Close()
		_ = st.Close()
	}
	return rec, recorderEvents{rec: r, server: cfg.FHIRBase()}, done, nil
}

// clientCmd: fhirserver client add|list|remove.
func clientCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fhirserver client add|list|remove [flags]")
	}
	sub, args := args[0], args[1:]
	var cfg Config
	fs := flag.NewFlagSet("client "+sub, flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var c oauth.Client
	var redirects multiFlag
	var scopes, jwksFile string
	switch sub {
	case "add":
		fs.StringVar(&c.ID, "id", "", "client id (letters, digits, '.', '_', '-')")
		fs.StringVar(&c.Type, "type", "", "public, confidential or backend")
		fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable)")
		fs.StringVar(&c.LaunchURI, "launch-uri", "", "the app's EHR launch URL")
		fs.StringVar(&scopes, "scope", "", "the scopes the client may request, space separated")
		fs.StringVar(&jwksFile, "jwks-file", "", "file holding the client's public JWKS (private_key_jwt)")
		fs.StringVar(&c.JWKSURL, "jwks-url", "", "URL of the client's public JWKS (private_key_jwt)")
		fs.StringVar(&c.Name, "name", "", "name shown to users")
		fs.BoolVar(&c.Provider, "provider", false, "the app is operated by the provider (no third-party notice)")
		fs.StringVar(&c.RequireACR, "require-acr", "", "raise the sign-in level the app's user tokens need above the server's: "+oauth.ACRPhishingResistant+" (passkeys only); empty keeps the server's")
	case "remove":
		fs.StringVar(&c.ID, "id", "", "client id")
	case "list":
	default:
		return fmt.Errorf("unknown client command %q (add, list, remove)", sub)
	}
	rec, events, done, err := openAudited(ctx, fs, args, &cfg)
	if err != nil {
		return err
	}
	defer done()
	clients := oauth.Clients{Records: rec, Now: time.Now, Events: events}
	switch sub {
	case "add":
		c.RedirectURIs, c.Scopes = redirects, strings.Fields(scopes)
		if jwksFile != "" {
			b, err := os.ReadFile(jwksFile)
			if err != nil {
				return err
			}
			c.JWKS = b
		}
		secret, err := clients.Add(ctx, &c)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "client %s added (%s)\n", c.ID, c.Type)
		if secret != "" {
			fmt.Fprintf(out, "client secret (shown once, keep it safe): %s\n", secret)
		}
	case "list":
		list, err := clients.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tNAME\tREDIRECT URIS\tSCOPES\tREQUIRE ACR")
		for _, cl := range list {
			acr := cl.RequireACR
			if acr == "" && cl.Type != oauth.ClientBackend {
				acr = "(server's)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Type, cl.Name, strings.Join(cl.RedirectURIs, " "), strings.Join(cl.Scopes, " "), acr)
		}
		return tw.Flush()
	case "remove":
		if err := clients.Remove(ctx, c.ID); err != nil {
			return err
		}
		fmt.Fprintf(out, "client %s removed, with its tokens\n", c.ID)
	}
	return nil
}

// userCmd: fhirserver user add|list|disable|unlock|contact (and
// enroll-link, reset).
func userCmd(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fhirserver user add|list|disable|unlock|contact|enroll-link|reset [flags]")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "enroll-link":
		return enrollLinkCmd(ctx, args, out)
	case "reset":
		return resetCmd(ctx, args, out)
	}
	var cfg Config
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var username, role, fhirUser, phone, email string
	var pwStdin, withTOTP, withCodes bool
	contactFlags := func() {
		fs.StringVar(&phone, "phone", "", "verified phone for sign-in codes and notices, international form (+1 555 555 0123); \"\" removes it")
		fs.StringVar(&email, "email", "", "verified email for sign-in codes and notices; \"\" removes it")
		fs.StringVar(&cfg.MessageFile, "message-file", env("FHIR_MESSAGE_FILE", ""), messageFileUsage)
	}
	switch sub {
	case "contact":
		fs.StringVar(&username, "username", "", "username")
		contactFlags()
	case "add":
		contactFlags()
		fs.StringVar(&username, "username", "", "username")
		fs.StringVar(&role, "role", "", strings.Join(oauth.Roles, ", "))
		fs.StringVar(&fhirUser, "fhir-user", "", "Patient/ID, Practitioner/ID or RelatedPerson/ID")
		fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
		fs.BoolVar(&withTOTP, "totp", false, "also enroll an authenticator app: prints its otpauth:// URI once")
		fs.BoolVar(&withCodes, "recovery-codes", false, "also make ten one-time recovery codes: printed once")
	case "disable", "unlock":
		fs.StringVar(&username, "username", "", "username")
	case "list":
	default:
		return fmt.Errorf("unknown user command %q (add, list, disable, unlock, contact, enroll-link, reset)", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var password string
	if sub == "add" {
		if !pwStdin {
			return errors.New("give the password on standard input with --password-stdin")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	rec, events, done, err := openAudited(ctx, fs, args, &cfg) // parses the same flags again
	if err != nil {
		return err
	}
	defer done()
	accounts := oauth.Accounts{Records: rec, Now: time.Now, Events: events, Revoke: func(ctx context.Context, id string) error {
		return oauth.RevokeAccount(ctx, rec, id)
	}}
	if accounts.Sender, err = cfg.sender(); err != nil {
		return err
	}
	// Only the flags given change a phone or email.
	var newPhone, newEmail *string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "phone":
			newPhone = &phone
		case "email":
			newEmail = &email
		}
	})
	switch sub {
	case "add":
		// Checked before the account is made.
		if _, err := oauth.NormalizePhone(phone); err != nil {
			return err
		}
		if _, err := oauth.NormalizeEmail(email); err != nil {
			return err
		}
		a, err := accounts.Add(ctx, username, role, fhirUser, password)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "user %s added (%s)\n", a.Username, a.Role)
		if newPhone != nil || newEmail != nil {
			if _, a, err = accounts.SetContact(ctx, a.Username, newPhone, newEmail); err != nil {
				return err
			}
			fmt.Fprintf(out, "contact: %s\n", oauth.MaskedContact(a))
		}
		if withTOTP {
			uri, err := accounts.EnrollTOTP(ctx, a.Username)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "authenticator app (shown once; add it to the app, e.g. as a QR code): %s\n", uri)
		}
		if withCodes {
			codes, err := accounts.NewRecoveryCodes(ctx, a.Username)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "recovery codes (shown once; each signs in once):\n  %s\n", strings.Join(codes, "\n  "))
		}
	case "list":
		list, err := accounts.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tFHIR USER\tSTATUS")
		for _, a := range list {
			status := "active"
			if locked, err := accounts.Locked(ctx, a.Username); err != nil {
				return err
			} else if locked {
				status = "locked"
			}
			if a.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Username, a.Role, a.FHIRUser, status)
		}
		return tw.Flush()
	case "disable":
		if err := accounts.Disable(ctx, username); err != nil {
			return err
		}
		fmt.Fprintf(out, "user %s disabled; their sessions and tokens have ended\n", strings.ToLower(username))
	case "contact":
		if newPhone == nil && newEmail == nil {
			return errors.New("give --phone, --email or both (\"\" removes one)")
		}
		if err := accounts.ChangeContact(ctx, username, newPhone, newEmail); err != nil {
			return err
		}
		a, err := accounts.ByUsername(ctx, username)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "user %s: contact %s; their sessions and tokens have ended\n", a.Username, oauth.MaskedContact(a))
	case "unlock":
		// After 100 consecutive failed sign-ins an account refuses every
		// sign-in until this; confirm who is asking before running it.
		if err := accounts.Unlock(ctx, username); err != nil {
			return err
		}
		fmt.Fprintf(out, "user %s unlocked; failed sign-in counts cleared\n", strings.ToLower(username))
	}
	return nil
}

// keyCmd: fhirserver key list|rotate|retire.
func keyCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fhirserver key list|rotate|retire [flags]")
	}
	sub, args := args[0], args[1:]
	var cfg Config
	fs := flag.NewFlagSet("key "+sub, flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var kid string
	if sub == "retire" {
		fs.StringVar(&kid, "kid", "", "the key to stop publishing")
	}
	rec, events, done, err := openAudited(ctx, fs, args, &cfg)
	if err != nil {
		return err
	}
	defer done()
	keys := oauth.Keys{Records: rec, Now: time.Now, Events: events}
	switch sub {
	case "rotate":
		id, err := keys.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "new signing key %s; earlier keys still verify until retired\n", id)
	case "retire":
		if err := keys.Retire(ctx, kid); err != nil {
			return err
		}
		fmt.Fprintf(out, "key %s retired\n", kid)
	case "list":
		list, err := keys.List(ctx)
		if err != nil {
			return err
		}
		for i, k := range list {
			state := "verifies"
			switch {
			case k.Retired:
				state = "retired"
			case i == 0 || allRetiredBefore(list, i):
				state = "signs"
			}
			fmt.Fprintf(out, "%s  %s  %s\n", k.ID, k.Created.Format(time.RFC3339), state)
		}
	default:
		return fmt.Errorf("unknown key command %q (list, rotate, retire)", sub)
	}
	return nil
}

func allRetiredBefore(list []oauth.SigningKey, i int) bool {
	for _, k := range list[:i] {
		if !k.Retired {
			return false
		}
	}
	return !list[i].Retired
}
