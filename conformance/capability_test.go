package conformance

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testRegistry(t *testing.T) *Registry {
	t.Helper()
	r := NewRegistry()
	for _, typ := range []string{"Patient", "Observation", "Condition"} {
		if err := r.Register(FullResource(typ)); err != nil {
			t.Fatal(err)
		}
	}
	audit := ResourceCapability{Type: "AuditEvent", Interactions: []Interaction{Read, SearchType}, Versioning: "no-version"}
	if err := r.Register(audit); err != nil {
		t.Fatal(err)
	}
	return r
}

func testOptions(t *testing.T) Options {
	return Options{
		BaseURL:         "https://fhir.example.org/fhir",
		SoftwareName:    "oncofhir",
		SoftwareVersion: "0.1.0",
		Date:            time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Registry:        testRegistry(t),
		System:          []SystemInteraction{Transaction, Batch, HistorySystem},
	}
}

func TestCapabilityStatementGolden(t *testing.T) {
	b, err := CapabilityStatement(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "capability.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./conformance -run Golden -update)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("CapabilityStatement differs from %s (rerun with -update if intended):\n%s", golden, pretty.Bytes())
	}
}

// The server's own statement must pass the validator its clients face.
func TestCapabilityStatementIsValidR4(t *testing.T) {
	b, err := CapabilityStatement(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := testValidator(t).Validate("CapabilityStatement", b); err != nil {
		t.Errorf("Validate(CapabilityStatement) = %v", err)
	}
}

func TestCapabilityStatementShape(t *testing.T) {
	opts := testOptions(t)
	opts.Registry = NewRegistry()
	for _, typ := range []string{"Observation", "Patient"} {
		c := FullResource(typ)
		c.SearchParams = []SearchParam{{Name: "_id", Type: "token"}}
		if err := opts.Registry.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	b, err := CapabilityStatement(opts)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := models.UnmarshalCapabilityStatement(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"resourceType":"CapabilityStatement"`) {
		t.Errorf("no resourceType in %s", b)
	}
	if cs.Status != models.PublicationStatusActive || cs.Kind != models.CapabilityStatementKindInstance ||
		cs.FhirVersion != models.FHIRVersion4_0_1 || cs.Date != "2025-01-02T03:04:05Z" {
		t.Errorf("status %s, kind %s, fhirVersion %s, date %s", cs.Status.Code(), cs.Kind.Code(), cs.FhirVersion.Code(), cs.Date)
	}
	if strings.Join(cs.Format, ",") != "json,application/fhir+json" || strings.Join(cs.PatchFormat, ",") != "application/json-patch+json" {
		t.Errorf("format %v, patchFormat %v", cs.Format, cs.PatchFormat)
	}
	if cs.Implementation == nil || cs.Implementation.Url == nil || *cs.Implementation.Url != opts.BaseURL {
		t.Errorf("implementation = %+v, want url %s", cs.Implementation, opts.BaseURL)
	}
	if cs.Software == nil || cs.Software.Name != "oncofhir" || cs.Software.Version == nil || *cs.Software.Version != "0.1.0" {
		t.Errorf("software = %+v", cs.Software)
	}
	if len(cs.Rest) != 1 || cs.Rest[0].Mode != models.RestfulCapabilityModeServer {
		t.Fatalf("rest = %+v, want one in server mode", cs.Rest)
	}
	rest := cs.Rest[0]
	var types []string
	for _, r := range rest.Resource {
		types = append(types, r.Type.Code())
	}
	if strings.Join(types, ",") != "Observation,Patient" {
		t.Errorf("resources = %v, want the registry's, sorted", types)
	}
	p := rest.Resource[1]
	var interactions []string
	for _, i := range p.Interaction {
		interactions = append(interactions, i.Code.Code())
	}
	if got := strings.Join(interactions, ","); got != "read,vread,update,patch,delete,history-instance,history-type,create,search-type" {
		t.Errorf("Patient interactions = %s", got)
	}
	if p.Versioning == nil || p.Versioning.Code() != "versioned-update" || p.ConditionalDelete == nil || p.ConditionalDelete.Code() != "single" ||
		!*p.ReadHistory || !*p.UpdateCreate || !*p.ConditionalCreate || !*p.ConditionalUpdate {
		t.Errorf("Patient capability = %s", mustJSON(t, p))
	}
	if len(p.SearchParam) != 1 || p.SearchParam[0].Name != "_id" || p.SearchParam[0].Type != models.SearchParamTypeToken {
		t.Errorf("Patient search parameters = %s", mustJSON(t, p.SearchParam))
	}
	var system []string
	for _, i := range rest.Interaction {
		system = append(system, i.Code.Code())
	}
	if got := strings.Join(system, ","); got != "transaction,batch,history-system" {
		t.Errorf("system interactions = %s", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCapabilityStatementRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"no registry", func(o *Options) { o.Registry = nil }},
		{"no software name", func(o *Options) { o.SoftwareName = "" }},
		{"relative base URL", func(o *Options) { o.BaseURL = "/fhir" }},
		{"base URL of another scheme", func(o *Options) { o.BaseURL = "ftp://example.org/fhir" }},
		{"unknown system interaction", func(o *Options) { o.System = []SystemInteraction{"teleport"} }},
		{"system search parameter of unknown type", func(o *Options) { o.SystemSearchParams = []SearchParam{{Name: "_x", Type: "fuzzy"}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t)
			tc.edit(&opts)
			if _, err := CapabilityStatement(opts); err == nil {
				t.Error("CapabilityStatement = nil error")
			}
		})
	}
}

func TestRegistryRegister(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    ResourceCapability
		ok   bool
	}{
		{"full resource", FullResource("Patient"), true},
		{"read only", ResourceCapability{Type: "Practitioner", Interactions: []Interaction{Read}}, true},
		{"unknown type", FullResource("Spaceship"), false},
		{"abstract type", FullResource("DomainResource"), false},
		{"system interaction on a type", ResourceCapability{Type: "Patient", Interactions: []Interaction{"transaction"}}, false},
		{"unknown interaction", ResourceCapability{Type: "Patient", Interactions: []Interaction{"teleport"}}, false},
		{"unknown versioning", ResourceCapability{Type: "Patient", Versioning: "sometimes"}, false},
		{"unknown conditional delete", ResourceCapability{Type: "Patient", ConditionalDelete: "all"}, false},
		{"search parameter without name", ResourceCapability{Type: "Patient", SearchParams: []SearchParam{{Type: "token"}}}, false},
		{"search parameter of unknown type", ResourceCapability{Type: "Patient", SearchParams: []SearchParam{{Name: "x", Type: "fuzzy"}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewRegistry().Register(tc.c)
			if (err == nil) != tc.ok {
				t.Errorf("Register = %v, want ok %v", err, tc.ok)
			}
		})
	}

	r := NewRegistry()
	if err := r.Register(FullResource("Patient")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(FullResource("Patient")); err == nil {
		t.Error("registering Patient twice = nil error")
	}
	if !r.Supports("Patient", Patch) || r.Supports("Observation", Read) {
		t.Error("Supports does not answer from the registry")
	}
}
