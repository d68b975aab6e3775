// Command fhirbench measures a running FHIR server: it loads synthetic
// oncology patients (fhir/synth) as transaction Bundles, then runs each
// scenario for a bounded time with concurrent clients and prints requests
// per second, latency percentiles and errors.
//
//	fhirbench -base http://localhost:8080/fhir -patients 1000 -c 32 -d 15s
//
// Scenarios, in their default order (reads first, writes last):
//
//	read         GET Patient/{id}
//	search-obs   GET Observation?patient=Patient/{id}&code=http://loinc.org|718-7
//	search-name  GET Patient?name={first 2 or 3 letters of a known family name}
//	everything   GET Patient/{id}/$everything?_count=1000 and every next page;
//	             one request is one whole record
//	create       POST a small Observation for a known patient
//	transaction  POST a transaction Bundle: a Patient and an Observation
//	             referring to it by urn:uuid
//
// The searches fetch the first page only (the server's default _count), and
// their matches per search count that page's entries in search mode match.
// Write scenarios count the writes acknowledged within the duration; a write
// cut off by the deadline may still have been stored.
//
// Known patients are those the load created (from the Locations of the
// transaction-responses) or, with -load=false, those a search
// Patient?_count=1000&_elements=id,name pages through. Load into an empty
// server: the generated Patients are created conditionally on their MRN, but
// everything else in a Bundle is created again.
//
// Each scenario prints one line of key=value pairs (grep '^scenario=');
// failures print the first error's status and body on stderr. At the end a
// markdown table, headed with the machine it ran on, is ready for the
// README. The exit status is 1 when the load fails or any request failed.
//
// Against a server that asks for SMART bearer tokens, run it as a SMART
// Backend Services client: make a key, register its public half, and give
// the client id and the key:
//
//	fhirbench keygen -out bench    # bench.key (mode 0600) and bench.jwks.json
//	fhirserver client add --id fhirbench --type backend --scope "system/*.cruds" --jwks-file bench.jwks.json
//	fhirbench -client fhirbench -key bench.key -base http://localhost:8080/fhir
//
// It then finds the token endpoint in {base}/.well-known/smart-configuration,
// gets a token with a signed client assertion (RS384 or ES384, by the key)
// and renews it a minute before it expires, once for all its clients.
// Without -client it sends no token, and a 401 stops it with the commands
// above. It never prints the token or the key.
//
// It sends requests only to -base, and follows paging links only on that
// scheme and host; use it on servers you run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/oncofhir/oncofhir/fhir/synth"
)

// config is the command line.
type config struct {
	base      string
	patients  int
	seed      int64
	clients   int
	dur       time.Duration
	max       int
	load      bool
	scenarios []string
	timeout   time.Duration
	auth      authConfig
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("fhirbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var names string
	fs.StringVar(&c.base, "base", "http://localhost:8080/fhir", "FHIR base URL")
	fs.IntVar(&c.patients, "patients", 1000, "synthetic patients to load")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the synthetic data and of the clients' choices")
	fs.IntVar(&c.clients, "c", 32, "concurrent clients")
	fs.DurationVar(&c.dur, "d", 15*time.Second, "duration of each scenario")
	fs.IntVar(&c.max, "n", 0, "most requests per scenario (0: no cap, the duration alone bounds it)")
	fs.BoolVar(&c.load, "load", true, "load the synthetic patients first")
	fs.StringVar(&names, "scenarios", "all", "comma list of scenarios to run: read, search-obs, search-name, everything, create, transaction")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of one HTTP request")
	fs.StringVar(&c.auth.clientID, "client", "", "SMART backend client `ID` to authenticate as (with -key)")
	fs.StringVar(&c.auth.keyFile, "key", "", "PEM private key `FILE` of the -client (fhirbench keygen makes one)")
	fs.StringVar(&c.auth.scope, "scope", "system/*.cruds", "scopes to ask for with -client")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.scenarios, err = parseScenarios(names); err != nil {
		return c, err
	}
	switch {
	case c.clients < 1:
		return c, errors.New("-c must be at least 1")
	case c.dur <= 0:
		return c, errors.New("-d must be positive")
	case c.max < 0:
		return c, errors.New("-n must not be negative")
	case c.patients < 0:
		return c, errors.New("-patients must not be negative")
	case c.timeout <= 0:
		return c, errors.New("-timeout must be positive")
	case (c.auth.clientID == "") != (c.auth.keyFile == ""):
		return c, errors.New("-client and -key go together")
	}
	return c, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "keygen" {
		err := keygen(os.Args[2:], os.Stdout, os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fhirbench keygen:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, cfg, os.Stdout, os.Stderr)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fhirbench:", err)
		os.Exit(1)
	}
}

// errFailures reports that requests failed after everything was printed.
var errFailures = errors.New("some requests failed (first errors above)")

func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	info := runInfo{when: time.Now(), base: cfg.base, patients: cfg.patients, seed: cfg.seed, loaded: cfg.load,
		clients: cfg.clients, dur: cfg.dur, max: cfg.max, machine: readMachine()}
	c, err := newClient(cfg.base, cfg.clients, cfg.timeout)
	if err != nil {
		return err
	}
	defer c.close()
	if cfg.auth.clientID != "" {
		if err := c.authenticate(ctx, cfg.auth); err != nil {
			return explainAuth(err, cfg.auth)
		}
	}

	var results []result
	var k *known
	if cfg.load {
		fmt.Fprintf(stderr, "loading %d synthetic patients (seed %d) into %s with %d clients\n", cfg.patients, cfg.seed, cfg.base, cfg.clients)
		res, got, err := loadPatients(ctx, c, synth.Options{Seed: cfg.seed, Patients: cfg.patients, Start: synthStart}, cfg.clients)
		fmt.Fprintln(stdout, res.line())
		if err != nil {
			return explainAuth(fmt.Errorf("load: %w", err), cfg.auth)
		}
		results, k = append(results, res), got
	} else {
		if k, err = collectPatients(ctx, c); err != nil {
			return explainAuth(err, cfg.auth)
		}
		fmt.Fprintf(stderr, "found %d patients on %s\n", len(k.ids), cfg.base)
	}
	if len(k.ids) == 0 {
		return errors.New("no patients to run the scenarios on: load some (-load, -patients)")
	}

	all := scenarios(c, k)
	failed := false
	for i, name := range cfg.scenarios {
		if ctx.Err() != nil {
			break
		}
		s := all[name]
		b := bounds{clients: cfg.clients, dur: cfg.dur, max: cfg.max, seed: uint64(cfg.seed)<<8 | uint64(i)}
		res := bench(ctx, name, s.itemsKey, b, s.op)
		fmt.Fprintln(stdout, res.line())
		if res.stop != nil {
			return explainAuth(fmt.Errorf("scenario %s: %w", name, res.stop), cfg.auth)
		}
		if res.errors > 0 {
			failed = true
			fmt.Fprintf(stderr, "scenario=%s first_error: %v\n", name, res.firstErr)
		}
		results = append(results, res)
	}
	fmt.Fprintln(stdout)
	if err := writeTable(stdout, info, results); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if failed {
		return errFailures
	}
	return nil
}
