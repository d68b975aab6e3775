package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/synth"
)

// demoPatients is how many synthetic patients --demo loads.
const demoPatients = 20

// do sends one request through the real router, in process: imports get
// exactly the validation, reference resolution and transactions of the API.
func (m *Main) do(ctx context.Context, method, path string, body []byte) (int, []byte) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/fhir+json")
	rec := httptest.NewRecorder()
	m.internal.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// loadDemo loads synthetic patients into a store that has none.
func (m *Main) loadDemo(ctx context.Context) error {
	some, err := m.Store.Search(ctx, fhir.Query{Type: "Patient", Limit: 1})
	if err != nil {
		return err
	}
	if len(some) > 0 {
		m.Logger.Info("demo data already present; not loading it again")
		return nil
	}
	start := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	n := 0
	err = synth.Each(synth.Options{Seed: 1, Patients: demoPatients, Start: start}, func(b []byte) error {
		if err := m.postBundle(ctx, b); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	m.Logger.Info("demo data loaded", "patients", n)
	return nil
}

// postBundle posts a transaction or batch Bundle and checks every entry.
func (m *Main) postBundle(ctx context.Context, b []byte) error {
	status, body := m.do(ctx, http.MethodPost, "/fhir", b)
	if status != http.StatusOK {
		return fmt.Errorf("bundle refused: %d %s", status, diagnostics(body))
	}
	var resp struct {
		Entry []struct {
			Response struct {
				Status  string          `json:"status"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return err
	}
	var errs []error
	for i, e := range resp.Entry {
		if !strings.HasPrefix(e.Response.Status, "2") {
			errs = append(errs, fmt.Errorf("entry %d: %s %s", i, e.Response.Status, diagnostics(e.Response.Outcome)))
		}
	}
	return errors.Join(errs...)
}

func diagnostics(oo []byte) string {
	var o struct {
		Issue []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(oo, &o) != nil || len(o.Issue) == 0 {
		return ""
	}
	return o.Issue[0].Diagnostics
}

// importCmd loads transaction or batch Bundles (.json) and NDJSON files of
// resources (.ndjson) through the API's own rules.
func importCmd(ctx context.Context, args []string, logger *slog.Logger) error {
	cfg, files, err := parseConfig("import", args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("import: name at least one .json Bundle or .ndjson file")
	}
	m := &Main{Config: cfg, Logger: logger}
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer m.Close() // the audit trail's closing checkpoint, then the store
	failed := 0
	for _, f := range files {
		n, err := m.importFile(ctx, f)
		if err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
			continue
		}
		fmt.Printf("%s: %d resources\n", f, n)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files failed", failed, len(files))
	}
	return nil
}

func (m *Main) importFile(ctx context.Context, name string) (int, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if strings.HasSuffix(name, ".ndjson") {
		return m.importNDJSON(ctx, f)
	}
	b, err := io.ReadAll(io.LimitReader(f, m.Config.MaxBodyBytes+1))
	if err != nil {
		return 0, err
	}
	var head struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return 0, fmt.Errorf("not a JSON resource: %w", err)
	}
	if head.ResourceType != "Bundle" || (head.Type != "transaction" && head.Type != "batch") {
		return 0, errors.New("a .json file must hold a transaction or batch Bundle; use .ndjson for plain resources")
	}
	return len(head.Entry), m.postBundle(ctx, b)
}

// importNDJSON sends resources in batches of at most 200 resources and
// half the body limit: a resource with an id is put under that id, one
// without is created.
func (m *Main) importNDJSON(ctx context.Context, r io.Reader) (int, error) {
	const batchSize = 200
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), int(m.Config.MaxBodyBytes))
	var entries []map[string]any
	total, size := 0, int64(0)
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "batch", "entry": entries})
		if err != nil {
			return err
		}
		entries, size = entries[:0], 0
		return m.postBundle(ctx, b)
	}
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		o, err := fhir.ParseObject(raw)
		if err != nil {
			return total, fmt.Errorf("line %d: %v", line, err)
		}
		if size > 0 && size+int64(len(raw))+256 > m.Config.MaxBodyBytes/2 {
			if err := flush(); err != nil {
				return total, err
			}
		}
		typ, id := o.String("resourceType"), o.String("id")
		req := map[string]string{"method": "POST", "url": typ}
		if id != "" {
			req = map[string]string{"method": "PUT", "url": typ + "/" + id}
		}
		entries = append(entries, map[string]any{"resource": json.RawMessage(append([]byte(nil), raw...)), "request": req})
		total++
		size += int64(len(raw)) + 256
		if len(entries) == batchSize {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return total, err
	}
	return total, flush()
}

// generateCmd writes synthetic patients, one transaction Bundle per file.
func generateCmd(args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	patients := fs.Int("patients", 100, "number of patients")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same data")
	out := fs.String("out", "synthetic", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	i := 0
	return synth.Each(synth.Options{Seed: *seed, Patients: *patients, Start: time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)}, func(b []byte) error {
		i++
		return os.WriteFile(filepath.Join(*out, fmt.Sprintf("patient-%06d.json", i)), b, 0o644)
	})
}
