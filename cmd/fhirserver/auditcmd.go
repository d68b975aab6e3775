package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/oncofhir/oncofhir/audit"
)

// auditCmd: fhirserver audit verify|checkpoints.
func auditCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fhirserver audit verify|checkpoints|purge [flags]")
	}
	sub, args := args[0], args[1:]
	var cfg Config
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var exported, outFile string
	retention := "6y"
	switch sub {
	case "purge":
		fs.StringVar(&retention, "audit-retention", env("FHIR_AUDIT_RETENTION", "6y"), "delete AuditEvents older than this, at least 6y (FHIR_AUDIT_RETENTION)")
	case "verify":
		fs.StringVar(&exported, "checkpoints", "", "also verify against checkpoints exported earlier (a file), besides those in the store")
	case "checkpoints":
		fs.StringVar(&outFile, "out", "-", "where to write the signed checkpoints, one JSON object a line")
	default:
		return fmt.Errorf("unknown audit command %q (verify, checkpoints, purge)", sub)
	}
	if sub == "purge" {
		return purgeCmd(ctx, fs, args, &cfg, &retention, out)
	}
	st, rec, err := parseAndOpen(ctx, fs, args, &cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "checkpoints":
		w := out
		if outFile != "-" {
			f, err := os.OpenFile(outFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		return audit.ExportCheckpoints(ctx, rec, w)
	default: // verify
		// Verify reads the key; it never makes one (a new key would fail
		// every checkpoint).
		if _, err := os.Stat(cfg.auditKeyPath()); err != nil {
			return fmt.Errorf("audit signing key: %w", err)
		}
		key, err := audit.LoadOrCreateKey(cfg.auditKeyPath())
		if err != nil {
			return err
		}
		var in io.Reader
		if exported != "" {
			f, err := os.Open(exported)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		report, err := audit.Verify(ctx, st, rec, key.Public().(ed25519.PublicKey), in)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, report)
		if !report.OK() {
			return errors.New("the audit trail does not verify")
		}
		return nil
	}
}

// purgeCmd deletes the AuditEvents past the retention period, as a
// server does daily, and records that it did.
func purgeCmd(ctx context.Context, fs *flag.FlagSet, args []string, cfg *Config, retention *string, out io.Writer) error {
	st, rec, err := parseAndOpen(ctx, fs, args, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := parseRetention(*retention)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.auditKeyPath()); err != nil {
		return fmt.Errorf("audit signing key: %w", err)
	}
	key, err := audit.LoadOrCreateKey(cfg.auditKeyPath())
	if err != nil {
		return err
	}
	r, err := audit.NewRecorder(ctx, audit.Config{Store: st, Records: rec, Key: key})
	if err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	p, err := newPurger(st, rec, key, d, r, cfg.FHIRBase(), slog.Default())
	if err != nil {
		r.Close()
		return err
	}
	res, err := p.run(ctx)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	fmt.Fprintf(out, "deleted %d audit events recorded before %s (%d chains)\n", res.Deleted, res.Before.Format(time.RFC3339), res.Chains)
	return err
}
