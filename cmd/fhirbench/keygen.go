package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/oncofhir/oncofhir/cmd/fhirbench/backendauth"
)

// keygen writes a private key, PREFIX.key (mode 0600), and its public
// JWKS, PREFIX.jwks.json, and prints how to register them with the server.
// It never overwrites a file, and never prints the key.
func keygen(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("fhirbench keygen", flag.ContinueOnError)
	fset.SetOutput(stderr)
	prefix := fset.String("out", "bench", "write `PREFIX`.key and PREFIX.jwks.json")
	alg := fset.String("alg", "ES384", "ES384 (a P-384 key) or RS384 (an RSA key of 3072 bits)")
	id := fset.String("id", "fhirbench", "the client id to show in the registration command")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	if *prefix == "" {
		return errors.New("-out must not be empty")
	}
	keyPath, jwksPath := *prefix+".key", *prefix+".jwks.json"
	for _, p := range []string{keyPath, jwksPath} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s exists; not overwriting it (choose another -out)", p)
		}
	}
	key, err := backendauth.GenerateKey(jose.SignatureAlgorithm(strings.ToUpper(*alg)))
	if err != nil {
		return fmt.Errorf("-alg: %w", err)
	}
	priv, err := key.PrivatePEM()
	if err != nil {
		return err
	}
	jwks, err := key.PublicJWKS()
	if err != nil {
		return err
	}
	if err := writeNew(keyPath, priv, 0o600); err != nil {
		return err
	}
	if err := writeNew(jwksPath, jwks, 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (the private key: keep it to yourself) and %s (its public key, kid %s, %s)\n",
		keyPath, jwksPath, key.KeyID(), key.Algorithm())
	fmt.Fprintf(stdout, "register the client with the server (this works while it runs; give it the server's --data):\n")
	fmt.Fprintf(stdout, "  fhirserver client add --id %s --type backend --scope \"system/*.cruds\" --jwks-file %s\n", shellQuote(*id), shellQuote(jwksPath))
	fmt.Fprintf(stdout, "then run:\n  go run ./cmd/fhirbench -client %s -key %s ...\n", shellQuote(*id), shellQuote(keyPath))
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9._/:=@+-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
