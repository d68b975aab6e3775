package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTransactionBundleShape(t *testing.T) {
	raw, err := json.Marshal(transaction(rand.New(rand.NewPCG(1, 2))))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string `json:"fullUrl"`
			Resource struct {
				ResourceType string
				Subject      struct{ Reference string }
				Code         struct {
					Coding []struct{ System, Code string }
				}
				Name []struct{ Family string }
			}
			Request struct{ Method, URL string }
		}
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	uuid := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if b.ResourceType != "Bundle" || b.Type != "transaction" || len(b.Entry) != 2 {
		t.Fatalf("bundle %s", raw)
	}
	p, o := b.Entry[0], b.Entry[1]
	if p.Resource.ResourceType != "Patient" || p.Request != (struct{ Method, URL string }{"POST", "Patient"}) || !uuid.MatchString(p.FullURL) {
		t.Errorf("first entry: %+v", p)
	}
	if !strings.HasPrefix(p.Resource.Name[0].Family, "Fhirbench") {
		t.Errorf("the Patient's family %q does not mark it as load-test data", p.Resource.Name[0].Family)
	}
	if o.Resource.ResourceType != "Observation" || o.Request != (struct{ Method, URL string }{"POST", "Observation"}) || !uuid.MatchString(o.FullURL) || o.FullURL == p.FullURL {
		t.Errorf("second entry: %+v", o)
	}
	if o.Resource.Subject.Reference != p.FullURL {
		t.Errorf("the Observation refers to %q, want the Patient's fullUrl %q", o.Resource.Subject.Reference, p.FullURL)
	}
	if c := o.Resource.Code.Coding; len(c) != 1 || c[0].System != "http://loinc.org" || c[0].Code != "718-7" {
		t.Errorf("code %+v", c)
	}
}

func TestNamePrefix(t *testing.T) {
	for _, tt := range []struct {
		family string
		n      int
		want   string
	}{
		{"Ambercroft482", 2, "Am"}, {"Ambercroft482", 3, "Amb"}, {"Ox12", 3, "Ox"}, {"Øst", 2, "Øs"}, {"42", 2, "42"},
	} {
		if got := namePrefix(tt.family, tt.n); got != tt.want {
			t.Errorf("namePrefix(%q, %d) = %q, want %q", tt.family, tt.n, got, tt.want)
		}
	}
}

func TestParseScenarios(t *testing.T) {
	if got, _ := parseScenarios("all"); strings.Join(got, ",") != "read,search-obs,search-name,everything,create,transaction" {
		t.Errorf("all: %v", got)
	}
	if got, _ := parseScenarios("create, read"); strings.Join(got, ",") != "create,read" {
		t.Errorf("a list keeps its order: %v", got)
	}
	if _, err := parseScenarios("read,serch-obs"); err == nil || !strings.Contains(err.Error(), `"serch-obs"`) {
		t.Errorf("unknown name: %v", err)
	}
}

func TestBenchStopsAtTheRequestCap(t *testing.T) {
	var calls atomic.Int64
	res := bench(context.Background(), "x", "", bounds{clients: 8, dur: time.Minute, max: 100}, func(context.Context, *rand.Rand) (int, error) {
		if calls.Add(1)%10 == 0 {
			return 0, errors.New("every tenth fails")
		}
		return 2, nil
	})
	if calls.Load() != 100 || res.requests != 90 || res.errors != 10 || res.items != 180 || len(res.lat) != 90 {
		t.Errorf("%d calls, result %d ok, %d errors, %d items", calls.Load(), res.requests, res.errors, res.items)
	}
	if res.firstErr == nil || res.firstErr.Error() != "every tenth fails" {
		t.Errorf("first error %v", res.firstErr)
	}
}

func TestBenchStopsAtTheDurationAndDropsCutOffRequests(t *testing.T) {
	before := runtime.NumGoroutine()
	start := time.Now()
	res := bench(context.Background(), "x", "", bounds{clients: 4, dur: 100 * time.Millisecond}, func(ctx context.Context, _ *rand.Rand) (int, error) {
		select {
		case <-time.After(30 * time.Millisecond):
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s for a 100ms scenario", took)
	}
	if res.errors != 0 || res.requests == 0 {
		t.Errorf("%d ok, %d errors: requests cut off by the deadline must not count as errors", res.requests, res.errors)
	}
	noLeaks(t, before, nil)
}

func TestScenariosAgainstAFakeServer(t *testing.T) {
	f := newFake(t)
	f.patients = []string{"a", "b", "c"}
	f.families = []string{"Ambercroft482", "Dunmore17", "Ironwood900"}
	f.pageSize, f.everything = 2, 5
	before := runtime.NumGoroutine()
	c, _ := newClient(f.base, 4, 5*time.Second)
	all := scenarios(c, &known{ids: f.patients, families: f.families})
	for _, name := range scenarioNames {
		res := bench(context.Background(), name, all[name].itemsKey, bounds{clients: 4, dur: 10 * time.Second, max: 20}, all[name].op)
		if res.requests != 20 || res.errors != 0 {
			t.Errorf("%s: %d ok, %d errors; first error %v", name, res.requests, res.errors, res.firstErr)
		}
		switch name {
		case "everything":
			if res.perRequest() != 5 {
				t.Errorf("everything: %.1f resources per record over 3 pages, want 5", res.perRequest())
			}
		case "search-obs":
			if res.perRequest() != 2 {
				t.Errorf("search-obs: %.1f matches, want the first page's 2", res.perRequest())
			}
		}
	}
	obs, names := 0, 0
	for _, q := range f.queries {
		switch {
		case q == "code=http%3A%2F%2Floinc.org%7C718-7&patient=Patient%2Fa", strings.HasPrefix(q, "code=http%3A%2F%2Floinc.org%7C718-7&patient=Patient%2F"):
			obs++
		case regexp.MustCompile(`^name=(Am|Amb|Du|Dun|Ir|Iro)$`).MatchString(q):
			names++
		default:
			t.Errorf("unexpected search %q", q)
		}
	}
	if obs != 20 || names != 20 {
		t.Errorf("%d Observation and %d name searches, want 20 each", obs, names)
	}
	noLeaks(t, before, c)
}

func TestScenarioErrorsKeepTheFirstStatusAndBody(t *testing.T) {
	f := newFake(t)
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","diagnostics":"internal error"}]}`))
	})
	c, _ := newClient(f.base, 2, 5*time.Second)
	defer c.close()
	s := scenarios(c, &known{ids: []string{"a"}, families: []string{"Quenby1"}})["search-name"]
	res := bench(context.Background(), "search-name", s.itemsKey, bounds{clients: 2, dur: 10 * time.Second, max: 6}, s.op)
	var se *statusError
	if res.errors != 6 || res.requests != 0 || !errors.As(res.firstErr, &se) || se.status != 500 || !strings.Contains(se.body, "internal error") {
		t.Errorf("%d errors, %d ok, first %v", res.errors, res.requests, res.firstErr)
	}
}

func TestRunPrintsALinePerScenarioAndTheTable(t *testing.T) {
	f := newFake(t)
	for _, load := range []bool{true, false} {
		cfg := config{base: f.base, patients: 3, seed: 1, clients: 2, dur: 5 * time.Second, max: 4,
			load: load, scenarios: scenarioNames, timeout: 5 * time.Second}
		var out, errOut strings.Builder
		if err := run(context.Background(), cfg, &out, &errOut); err != nil {
			t.Fatalf("load=%v: %v\n%s", load, err, errOut.String())
		}
		lines := regexp.MustCompile(`(?m)^scenario=(\S+) clients=2 .* errors=0 `).FindAllStringSubmatch(out.String(), -1)
		want := len(scenarioNames)
		if load {
			want++
		}
		if len(lines) != want {
			t.Errorf("load=%v: %d scenario lines, want %d:\n%s", load, len(lines), want, out.String())
		}
		if rows := strings.Count(out.String(), "\n| "); rows != want+2 {
			t.Errorf("load=%v: %d table lines with heading and rule, want %d:\n%s", load, rows, want+2, out.String())
		}
		if !strings.Contains(out.String(), "Machine: ") {
			t.Errorf("no machine line:\n%s", out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	var stderr strings.Builder
	cfg, err := parseFlags(nil, &stderr)
	if err != nil || cfg.base != "http://localhost:8080/fhir" || cfg.patients != 1000 || cfg.clients != 32 ||
		cfg.dur != 15*time.Second || cfg.max != 0 || !cfg.load || len(cfg.scenarios) != 6 {
		t.Errorf("defaults %+v, %v", cfg, err)
	}
	cfg, err = parseFlags([]string{"-base", "http://127.0.0.1:1/fhir", "-patients", "5", "-seed", "9", "-c", "3", "-d", "2s", "-n", "10", "-load=false", "-scenarios", "read,create"}, &stderr)
	if err != nil || cfg.patients != 5 || cfg.seed != 9 || cfg.clients != 3 || cfg.dur != 2*time.Second || cfg.max != 10 || cfg.load || len(cfg.scenarios) != 2 {
		t.Errorf("parsed %+v, %v", cfg, err)
	}
	cfg, err = parseFlags([]string{"-client", "fhirbench", "-key", "bench.key"}, &stderr)
	if err != nil || cfg.auth.clientID != "fhirbench" || cfg.auth.keyFile != "bench.key" || cfg.auth.scope != "system/*.cruds" {
		t.Errorf("parsed %+v, %v", cfg.auth, err)
	}
	for _, bad := range [][]string{{"-c", "0"}, {"-d", "0s"}, {"-n", "-1"}, {"-patients", "-1"}, {"extra"}, {"-scenarios", "nope"},
		{"-client", "fhirbench"}, {"-key", "bench.key"}} {
		if _, err := parseFlags(bad, &stderr); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
