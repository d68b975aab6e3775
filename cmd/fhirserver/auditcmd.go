package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/oncofhir/oncofhir/audit"
)

// auditCmd: fhirserver audit verify|checkpoints.
func auditCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fhirserver audit verify|checkpoints [flags]")
	}
	sub, args := args[0], args[1:]
	var cfg Config
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	storeFlags(fs, &cfg)
	var exported, outFile string
	switch sub {
	case "verify":
		fs.StringVar(&exported, "checkpoints", "", "also verify against checkpoints exported earlier (a file), besides those in the store")
	case "checkpoints":
		fs.StringVar(&outFile, "out", "-", "where to write the signed checkpoints, one JSON object a line")
	default:
		return fmt.Errorf("unknown audit command %q (verify, checkpoints)", sub)
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
