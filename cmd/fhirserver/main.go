// Command fhirserver is the FHIR R4 server: `fhirserver` (or `fhirserver
// serve`) runs it; `fhirserver import FILE...` loads Bundles and NDJSON;
// `fhirserver generate` writes synthetic oncology Bundles.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, logger); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fhirserver:", err)
		}
		os.Exit(1)
	}
}

// run dispatches a command line; the administrative commands read stdin
// and write to stdout, both given so tests can drive them.
func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, logger)
	case "import":
		return importCmd(ctx, args, logger)
	case "generate":
		return generateCmd(args)
	case "client":
		return clientCmd(ctx, args, stdout)
	case "user":
		return userCmd(ctx, args, stdin, stdout)
	case "key":
		return keyCmd(ctx, args, stdout)
	case "audit":
		return auditCmd(ctx, args, stdout)
	case "help":
		fmt.Fprintln(stdout, "usage: fhirserver [serve] [flags] | import [flags] FILE... | generate [flags] | client add|list|remove | user add|list|disable|unlock | key list|rotate|retire | audit verify|checkpoints")
		return nil
	}
	return fmt.Errorf("unknown command %q (serve, import, generate, client, user, key, audit)", cmd)
}

func serve(ctx context.Context, args []string, logger *slog.Logger) error {
	cfg, _, err := parseConfig("serve", args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Config: cfg, Logger: logger}
	if err := m.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nFHIR R4 server listening on %s (FHIR base %s)\n", m.Addr(), cfg.FHIRBase())
	if cfg.Demo {
		demoHints(os.Stderr, cfg)
	}
	<-ctx.Done()
	logger.Info("shutting down: draining requests")
	return m.Close()
}
