package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startMain(t *testing.T, cfg Config) *Main {
	t.Helper()
	m := &Main{Config: cfg, Logger: quiet(), DemoOut: io.Discard}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func testConfig(dir string) Config {
	return Config{Addr: "127.0.0.1:0", BaseURL: "http://localhost:8080", DataDir: dir, MaxBodyBytes: 16 << 20,
		AccessTokenLifetime: time.Hour, OfflineLifetime: 90 * 24 * time.Hour, SessionIdle: 15 * time.Minute, SessionMax: 12 * time.Hour, StepUpMaxAge: 15 * time.Minute}
}

func get(t *testing.T, m *Main, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+m.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+systemToken(t, m))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func countPatients(t *testing.T, m *Main) int {
	t.Helper()
	status, b := get(t, m, "/fhir/Patient/_history?_count=1000")
	if status != 200 {
		t.Fatalf("history: %d", status)
	}
	ids := map[string]bool{}
	for _, e := range b["entry"].([]any) {
		ids[e.(map[string]any)["fullUrl"].(string)] = true
	}
	return len(ids)
}

func TestDemoServesSyntheticPatientsOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Demo = true
	m := startMain(t, cfg)
	status, cs := get(t, m, "/fhir/metadata")
	if status != 200 || cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %d %v", status, cs["resourceType"])
	}
	if n := countPatients(t, m); n != demoPatients {
		t.Fatalf("%d patients after --demo, want %d", n, demoPatients)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = startMain(t, cfg)
	defer m.Close()
	if n := countPatients(t, m); n != demoPatients {
		t.Fatalf("a second --demo start loaded again: %d patients", n)
	}
}

func TestCapabilityStatementListsWhatIsServed(t *testing.T) {
	m := startMain(t, testConfig(t.TempDir()))
	defer m.Close()
	_, cs := get(t, m, "/fhir/metadata")
	rest := cs["rest"].([]any)[0].(map[string]any)
	var patient map[string]any
	for _, r := range rest["resource"].([]any) {
		if r.(map[string]any)["type"] == "Patient" {
			patient = r.(map[string]any)
		}
	}
	if patient == nil {
		t.Fatal("Patient is not listed")
	}
	var codes []string
	for _, i := range patient["interaction"].([]any) {
		codes = append(codes, i.(map[string]any)["code"].(string))
	}
	if got := strings.Join(codes, ","); !strings.Contains(got, "search-type") || !strings.Contains(got, "history-instance") {
		t.Errorf("Patient interactions %s", got)
	}
	params := map[string]string{}
	for _, p := range patient["searchParam"].([]any) {
		p := p.(map[string]any)
		params[p["name"].(string)] = p["type"].(string)
	}
	if params["name"] != "string" || params["birthdate"] != "date" || params["_lastUpdated"] != "date" {
		t.Errorf("Patient search parameters %v", params)
	}
	if f := cs["format"].([]any); len(f) == 0 || strings.Contains(strings.ToLower(strings.Join(strs(f), ",")), "xml") {
		t.Errorf("formats %v: JSON only", f)
	}
}

func strs(v []any) []string {
	var out []string
	for _, x := range v {
		out = append(out, x.(string))
	}
	return out
}

func TestImportBundlesAndNDJSON(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "gen")
	if err := generateCmd([]string{"--patients", "3", "--seed", "7", "--out", out}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.json"))
	if len(files) != 3 {
		t.Fatalf("generated %d files", len(files))
	}
	nd := filepath.Join(dir, "extra.ndjson")
	os.WriteFile(nd, []byte(`{"resourceType":"Practitioner","id":"onc-1","name":[{"family":"Mensah"}]}
{"resourceType":"Practitioner","name":[{"family":"Quinn"}]}
`), 0o644)
	data := filepath.Join(dir, "data")
	args := append([]string{"--data", data}, append(files, nd)...)
	if err := importCmd(context.Background(), args, quiet()); err != nil {
		t.Fatal(err)
	}
	// Importing the same Bundles again matches the patients instead of duplicating them.
	if err := importCmd(context.Background(), append([]string{"--data", data}, files...), quiet()); err != nil {
		t.Fatal(err)
	}
	m := startMain(t, testConfig(data))
	defer m.Close()
	if n := countPatients(t, m); n != 3 {
		t.Errorf("%d patients, want 3", n)
	}
	if status, _ := get(t, m, "/fhir/Practitioner/onc-1"); status != 200 {
		t.Errorf("NDJSON resource with an id: %d", status)
	}
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte(`{"resourceType":"Observation"}`+"\n"), 0o644)
	if err := importCmd(context.Background(), []string{"--data", filepath.Join(dir, "d2"), bad}, quiet()); err == nil {
		t.Error("an invalid resource must fail the import")
	}
}

// readListener tells, by closing reading, when the server reads from a
// connection accepted once armed is set after it has read a whole
// request head: the request's handler is then reading its body.
type readListener struct {
	net.Listener
	armed   atomic.Bool
	reading chan struct{}
	once    sync.Once
}

func (l *readListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || !l.armed.Load() {
		return c, err
	}
	return &readConn{Conn: c, l: l}, nil
}

// readConn is one of readListener's connections. The server reads it
// from one goroutine at a time.
type readConn struct {
	net.Conn
	l    *readListener
	seen []byte // what was read until the head's end, the first blank line
	head bool
}

func (c *readConn) Read(p []byte) (int, error) {
	if c.head {
		c.l.once.Do(func() { close(c.l.reading) })
	}
	n, err := c.Conn.Read(p)
	if !c.head {
		c.seen = append(c.seen, p[:n]...)
		c.head = bytes.Contains(c.seen, []byte("\r\n\r\n"))
	}
	return n, err
}

// TestShutdownDrainsInFlightRequests: Close waits for a request that is
// still sending its body, which then completes.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &readListener{Listener: ln, reading: make(chan struct{})}
	m := &Main{Config: testConfig(t.TempDir()), Logger: quiet(), DemoOut: io.Discard, Listener: rl}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	token := systemToken(t, m)
	// A connection of its own, not one kept from the token request: the
	// server must be seen reading this request's body.
	client := &http.Client{Transport: &http.Transport{}}
	rl.armed.Store(true)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+m.Addr()+"/fhir/Patient", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	done := make(chan int, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte(`{"resourceType":"Patient",`))
	// Close drops a request whose handler has not started (Go's server
	// closes a connection it finds shutting down after reading a request
	// head), so it must wait for the handler: a pause would be too short
	// on a busy machine now and then.
	select {
	case <-rl.reading:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start reading the request's body")
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned while a request was in flight: %v", err)
	default:
	}
	pw.Write([]byte(`"gender":"female"}`))
	pw.Close()
	if status := <-done; status != http.StatusCreated {
		t.Fatalf("in-flight request: %d", status)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestConfigFromEnvironmentAndFlags(t *testing.T) {
	t.Setenv("FHIR_ADDR", "127.0.0.1:9999")
	t.Setenv("FHIR_BASE_URL", "https://portal.example.org")
	cfg, _, err := parseConfig("serve", []string{"--data", "/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9999" || cfg.FHIRBase() != "https://portal.example.org/fhir" || cfg.DataDir != "/tmp/x" {
		t.Errorf("config %+v", cfg)
	}
	cfg, _, _ = parseConfig("serve", []string{"--addr", "127.0.0.1:1"})
	if cfg.Addr != "127.0.0.1:1" {
		t.Errorf("a flag must win over the environment: %s", cfg.Addr)
	}
	if _, _, err := parseConfig("serve", []string{"--base-url", "localhost"}); err == nil {
		t.Error("a relative base URL must be refused")
	}
}

// TestImportNDJSONKeepsBatchesUnderTheBodyLimit: many resources that fit
// the limit one by one are sent in batches that fit it too.
func TestImportNDJSONKeepsBatchesUnderTheBodyLimit(t *testing.T) {
	dir := t.TempDir()
	nd := filepath.Join(dir, "p.ndjson")
	var lines []string
	for i := 0; i < 5; i++ {
		lines = append(lines, `{"resourceType":"Patient","id":"nd-`+string(rune('a'+i))+`","name":[{"family":"`+strings.Repeat("x", 1400)+`"}]}`)
	}
	os.WriteFile(nd, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	data := filepath.Join(dir, "data")
	if err := importCmd(context.Background(), []string{"--data", data, "--max-body", "4096", nd}, quiet()); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(data)
	m := startMain(t, cfg)
	defer m.Close()
	if n := countPatients(t, m); n != 5 {
		t.Errorf("%d patients, want 5", n)
	}
}
