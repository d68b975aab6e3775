package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore"
	"github.com/oncofhir/oncofhir/fhir/mongostore/ferrettest"
	"github.com/oncofhir/oncofhir/fhir/rest"
	"github.com/oncofhir/oncofhir/fhir/searchparam"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

const base = "http://fhir.test/fhir"

var (
	validatorOnce sync.Once
	validator     *conformance.Validator
	validatorErr  error
)

var (
	paramsOnce sync.Once
	params     *searchparam.Registry
	paramsErr  error
)

func sharedParams(t testing.TB) *searchparam.Registry {
	paramsOnce.Do(func() {
		params, paramsErr = searchparam.Load()
		if paramsErr == nil {
			params = params.WithBaseURL(base)
		}
	})
	if paramsErr != nil {
		t.Fatal(paramsErr)
	}
	return params
}

func sharedValidator(t testing.TB) *conformance.Validator {
	validatorOnce.Do(func() { validator, validatorErr = conformance.NewValidator() })
	if validatorErr != nil {
		t.Fatal(validatorErr)
	}
	return validator
}

// engines opens each storage engine for a test.
var engines = []struct {
	name string
	open func(t testing.TB) fhir.Store
}{
	{"sqlite", func(t testing.TB) fhir.Store {
		s, err := sqlitestore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"mongo", func(t testing.TB) fhir.Store {
		s, err := mongostore.Open(context.Background(), ferrettest.Start(t), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// server is the real router over one engine.
type server struct {
	t     testing.TB
	e     *echo.Echo
	store fhir.Store
}

func newServer(t testing.TB, store fhir.Store, mod ...func(*rest.Deps)) *server {
	e := echo.New()
	e.HTTPErrorHandler = rest.ErrorHandler(nil)
	params := sharedParams(t)
	d := rest.Deps{
		Store:          store,
		Validator:      sharedValidator(t),
		BaseURL:        base,
		IsResourceType: conformance.IsResourceType,
		ResourceTypes:  conformance.ResourceTypes(),
		Capability:     []byte(`{"resourceType":"CapabilityStatement"}`),
		MaxBodyBytes:   64 << 10,
		Params:         params,
		Indexer:        params,
		Compartment:    conformance.PatientCompartment(),
		CursorKey:      []byte("test cursor key"),
		SummaryFilter:  conformance.SummaryFilter,
	}
	for _, f := range mod {
		f(&d)
	}
	rest.Register(e.Group("/fhir"), d)
	return &server{t: t, e: e, store: store}
}

// each runs fn on every engine, one server per engine for all its subtests.
func each(t *testing.T, fn func(t *testing.T, s *server)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			fn(t, newServer(t, eng.open(t)))
		})
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%d): %q", r.status, r.body)
	}
	return m
}

// issue returns the first OperationOutcome issue's code and expression.
func (r response) issue(t testing.TB) (code string, expr []any, diag string) {
	t.Helper()
	m := r.json(t)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("want an OperationOutcome, got %s", r.body)
	}
	iss := m["issue"].([]any)[0].(map[string]any)
	code, _ = iss["code"].(string)
	expr, _ = iss["expression"].([]any)
	diag, _ = iss["diagnostics"].(string)
	return
}

func (s *server) do(method, path, body string, headers ...string) response {
	s.t.Helper()
	return s.doAs(nil, method, path, body, headers...)
}

// doAs sends a request whose context carries the principal p (none when
// nil), as the bearer-token middleware would.
func (s *server) doAs(p *fhir.Principal, method, path, body string, headers ...string) response {
	s.t.Helper()
	return s.send(p, nil, method, path, body, headers...)
}

// doTraced is doAs with a fresh fhir.Trail in the request context, as the
// audit middleware puts one there; it returns what the request recorded.
func (s *server) doTraced(p *fhir.Principal, method, path, body string, headers ...string) (response, []fhir.TrailEntry) {
	s.t.Helper()
	trail := &fhir.Trail{}
	r := s.send(p, trail, method, path, body, headers...)
	return r, trail.Entries()
}

func (s *server) send(p *fhir.Principal, trail *fhir.Trail, method, path, body string, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if p != nil {
		req = req.WithContext(fhir.WithPrincipal(req.Context(), p))
	}
	if trail != nil {
		req = req.WithContext(fhir.WithTrail(req.Context(), trail))
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// create posts a resource and returns its id.
func (s *server) create(body string) string {
	s.t.Helper()
	r := s.do("POST", "/fhir/"+typeOf(s.t, body), body)
	if r.status != http.StatusCreated {
		s.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.json(s.t)["id"].(string)
}

func typeOf(t testing.TB, body string) string {
	var m struct{ ResourceType string }
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return m.ResourceType
}

func wantStatus(t testing.TB, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// sameJSON compares two JSON documents ignoring key order, byte-exact on
// numbers (json.Number keeps their text).
func sameJSON(a, b []byte) bool {
	norm := func(x []byte) string {
		d := json.NewDecoder(bytes.NewReader(x))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return "invalid:" + string(x)
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}
