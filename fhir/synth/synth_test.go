package synth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var testStart = time.Date(2025, time.March, 3, 10, 0, 0, 0, time.UTC)

// parsed is a Bundle decoded for inspection, numbers kept as written.
type parsed struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string         `json:"fullUrl"`
		Resource map[string]any `json:"resource"`
		Request  *struct {
			Method      string `json:"method"`
			URL         string `json:"url"`
			IfNoneExist string `json:"ifNoneExist"`
		} `json:"request"`
	} `json:"entry"`
}

func parse(t *testing.T, b []byte) parsed {
	t.Helper()
	var p parsed
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&p); err != nil {
		t.Fatalf("bundle is not JSON: %v", err)
	}
	return p
}

func generate(t *testing.T, seed int64, n int) []parsed {
	t.Helper()
	var out []parsed
	for _, b := range Generate(Options{Seed: seed, Patients: n, Start: testStart}) {
		out = append(out, parse(t, b))
	}
	return out
}

func TestSameOptionsSameBytes(t *testing.T) {
	opts := Options{Seed: 42, Patients: 8, Start: testStart}
	a, b := Generate(opts), Generate(opts)
	if len(a) != len(b) {
		t.Fatalf("got %d and %d bundles", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("patient %d differs between two runs", i)
		}
	}
	var i int
	err := Each(opts, func(bundle []byte) error {
		if !bytes.Equal(bundle, a[i]) {
			t.Errorf("Each patient %d differs from Generate", i)
		}
		i++
		return nil
	})
	if err != nil || i != len(a) {
		t.Fatalf("Each: %d bundles, err %v", i, err)
	}
}

func TestPatientDoesNotDependOnCount(t *testing.T) {
	few := Generate(Options{Seed: 7, Patients: 3, Start: testStart})
	many := Generate(Options{Seed: 7, Patients: 10, Start: testStart})
	for i := range few {
		if !bytes.Equal(few[i], many[i]) {
			t.Errorf("patient %d changes with the patient count", i)
		}
	}
}

func TestDifferentSeedsDifferentData(t *testing.T) {
	a := Generate(Options{Seed: 1, Patients: 3, Start: testStart})
	b := Generate(Options{Seed: 2, Patients: 3, Start: testStart})
	for i := range a {
		if bytes.Equal(a[i], b[i]) {
			t.Errorf("patient %d is the same for seeds 1 and 2", i)
		}
	}
	mrn := func(p parsed) string { return p.Entry[0].Request.IfNoneExist }
	if x, y := mrn(parse(t, a[0])), mrn(parse(t, b[0])); x == y {
		t.Errorf("seeds 1 and 2 claim the same MRN: %s", x)
	}
}

func TestPatientCount(t *testing.T) {
	for _, n := range []int{0, 1, 5, 23} {
		if got := len(Generate(Options{Seed: 3, Patients: n, Start: testStart})); got != n {
			t.Errorf("Patients %d: got %d bundles", n, got)
		}
	}
	if err := Each(Options{Patients: -1}, func([]byte) error { return nil }); err == nil {
		t.Error("negative patient count accepted")
	}
}

func TestEachStopsAtCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := Each(Options{Seed: 1, Patients: 10, Start: testStart}, func([]byte) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Fatalf("got err %v after %d calls, want stop after 3", err, calls)
	}
}

func TestZeroStartIsDefaultNotWallClock(t *testing.T) {
	a := Generate(Options{Seed: 5, Patients: 1})
	b := Generate(Options{Seed: 5, Patients: 1, Start: DefaultStart})
	if !bytes.Equal(a[0], b[0]) {
		t.Fatal("zero Start does not mean DefaultStart")
	}
}

var uuidURN = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// references collects every Reference.reference string under v.
func references(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "reference" {
				*out = append(*out, s)
				continue
			}
			references(e, out)
		}
	case []any:
		for _, e := range x {
			references(e, out)
		}
	}
}

func TestBundlesAreTransactionsWithResolvableReferences(t *testing.T) {
	seen := map[string]bool{}
	for i, b := range generate(t, 11, 20) {
		if b.ResourceType != "Bundle" || b.Type != "transaction" {
			t.Fatalf("patient %d: %s of type %q", i, b.ResourceType, b.Type)
		}
		if len(b.Entry) == 0 || b.Entry[0].Resource["resourceType"] != "Patient" {
			t.Fatalf("patient %d: first entry is not the Patient", i)
		}
		urls := map[string]string{}
		for _, e := range b.Entry {
			typ, _ := e.Resource["resourceType"].(string)
			if !uuidURN.MatchString(e.FullURL) {
				t.Errorf("patient %d: %s fullUrl %q is not a v4 urn:uuid", i, typ, e.FullURL)
			}
			if seen[e.FullURL] {
				t.Errorf("patient %d: fullUrl %s used twice", i, e.FullURL)
			}
			seen[e.FullURL] = true
			urls[e.FullURL] = typ
			if e.Request == nil || e.Request.Method != "POST" || e.Request.URL != typ {
				t.Errorf("patient %d: %s entry request %+v, want POST %s", i, typ, e.Request, typ)
			}
			if _, ok := e.Resource["id"]; ok {
				t.Errorf("patient %d: %s carries an id; the server assigns it", i, typ)
			}
		}
		p := b.Entry[0]
		ident := p.Resource["identifier"].([]any)[0].(map[string]any)
		want := "identifier=" + MRNSystem + "|" + ident["value"].(string)
		if ident["system"] != MRNSystem || p.Request.IfNoneExist != want {
			t.Errorf("patient %d: ifNoneExist %q, want %q", i, p.Request.IfNoneExist, want)
		}
		if !regexp.MustCompile(`^MRN-[A-Z]{4}-\d{6}$`).MatchString(ident["value"].(string)) {
			t.Errorf("patient %d: MRN %q", i, ident["value"])
		}
		for _, e := range b.Entry {
			var refs []string
			references(e.Resource, &refs)
			for _, r := range refs {
				if !strings.HasPrefix(r, "urn:uuid:") {
					t.Errorf("patient %d: %s refers to %q outside the bundle", i, e.Resource["resourceType"], r)
				} else if urls[r] == "" {
					t.Errorf("patient %d: %s refers to %s, not in the bundle", i, e.Resource["resourceType"], r)
				}
			}
		}
	}
}

// counts returns how many resources of each type a bundle holds.
func counts(b parsed) map[string]int {
	n := map[string]int{}
	for _, e := range b.Entry {
		n[e.Resource["resourceType"].(string)]++
	}
	return n
}

func TestEveryPatientHasTheCoreResources(t *testing.T) {
	want := []string{
		"Patient", "Condition", "Encounter", "Observation", "DiagnosticReport", "MedicationRequest",
		"Procedure", "CarePlan", "CareTeam", "Appointment", "Communication", "DocumentReference",
	}
	for i, b := range generate(t, 12, 20) {
		n := counts(b)
		for _, typ := range want {
			if n[typ] == 0 {
				t.Errorf("patient %d has no %s", i, typ)
			}
		}
		if n["Patient"] != 1 || n["Condition"] != 1 || n["Encounter"] < 3 {
			t.Errorf("patient %d: %v", i, n)
		}
	}
}

func TestCancersAndCaregiversSpreadOverPatients(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 99} {
		conditions := map[string]int{}
		carers := 0
		bundles := generate(t, seed, 20)
		for _, b := range bundles {
			carers += min(counts(b)["RelatedPerson"], 1)
			for _, e := range b.Entry {
				if e.Resource["resourceType"] == "Condition" {
					code := e.Resource["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)
					conditions[code["code"].(string)]++
				}
			}
		}
		for _, code := range []string{"254837009", "424132000", "363406005"} {
			if conditions[code] == 0 {
				t.Errorf("seed %d: no patient with SNOMED %s in 20: %v", seed, code, conditions)
			}
		}
		if carers == 0 || carers == len(bundles) {
			t.Errorf("seed %d: %d of %d patients have a caregiver, want some", seed, carers, len(bundles))
		}
	}
}

func TestBreastCancerPatientsAreWomen(t *testing.T) {
	for i, b := range generate(t, 13, 30) {
		for _, e := range b.Entry {
			if e.Resource["resourceType"] != "Condition" {
				continue
			}
			code := e.Resource["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]
			if code == "254837009" && b.Entry[0].Resource["gender"] != "female" {
				t.Errorf("patient %d: breast cancer in a %v patient", i, b.Entry[0].Resource["gender"])
			}
		}
	}
}

// decimals is the number of decimals each measurement is reported with.
var decimals = map[string]int{
	"29463-7": 1, "8302-2": 1, "8867-4": 0, "8480-6": 0, "8462-4": 0,
	"718-7": 1, "6690-2": 1, "777-3": 0, "2160-0": 2, "2039-6": 1, "6875-9": 1,
}

var units = map[string]string{
	"29463-7": "kg", "8302-2": "cm", "8867-4": "/min", "8480-6": "mm[Hg]", "8462-4": "mm[Hg]",
	"718-7": "g/dL", "6690-2": "10*3/uL", "777-3": "10*3/uL", "2160-0": "mg/dL", "2039-6": "ng/mL", "6875-9": "U/mL",
}

func checkQuantity(t *testing.T, code string, q map[string]any, trailingZero *int) {
	t.Helper()
	v, ok := q["value"].(json.Number)
	if !ok {
		t.Errorf("%s: value %v is not a number", code, q["value"])
		return
	}
	s := v.String()
	places := 0
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		places = len(s) - dot - 1
		if s[len(s)-1] == '0' {
			*trailingZero++
		}
	}
	if places != decimals[code] {
		t.Errorf("LOINC %s value %s has %d decimals, want %d", code, s, places, decimals[code])
	}
	if q["system"] != ucum || q["code"] != units[code] || q["unit"] != units[code] {
		t.Errorf("LOINC %s quantity %v, want UCUM %s", code, q, units[code])
	}
}

func TestQuantitiesKeepTheirDecimals(t *testing.T) {
	trailingZero := 0
	for _, b := range generate(t, 14, 20) {
		for _, e := range b.Entry {
			r := e.Resource
			if r["resourceType"] != "Observation" {
				continue
			}
			code := r["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
			if q, ok := r["valueQuantity"].(map[string]any); ok {
				checkQuantity(t, code, q, &trailingZero)
				continue
			}
			if code != "85354-9" {
				t.Errorf("Observation %s has no valueQuantity", code)
				continue
			}
			for _, c := range r["component"].([]any) {
				c := c.(map[string]any)
				cc := c["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
				checkQuantity(t, cc, c["valueQuantity"].(map[string]any), &trailingZero)
			}
		}
	}
	if trailingZero == 0 {
		t.Error("no value like 13.0 or 0.90 in 20 patients: trailing zeros are being dropped")
	}
}

func TestRawJSONKeepsTrailingZeros(t *testing.T) {
	raw := bytes.Join(Generate(Options{Seed: 15, Patients: 20, Start: testStart}), nil)
	if !regexp.MustCompile(`"valueQuantity":\{"value":\d+\.\d*0,`).Match(raw) {
		t.Error("no valueQuantity value with a trailing zero in the raw JSON")
	}
}

// times returns every dateTime-looking string under v, with its key.
func times(key string, v any, out map[string][]time.Time) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			times(k, e, out)
		}
	case []any:
		for _, e := range x {
			times(key, e, out)
		}
	case string:
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			out[key] = append(out[key], t)
		}
	}
}

func TestHistoryBeforeStartAppointmentsAfter(t *testing.T) {
	for i, b := range generate(t, 16, 20) {
		for _, e := range b.Entry {
			ts := map[string][]time.Time{}
			times("", e.Resource, ts)
			typ := e.Resource["resourceType"]
			for key, list := range ts {
				for _, ti := range list {
					future := typ == "Appointment" && (key == "start" || key == "end")
					if future != ti.After(testStart) {
						t.Errorf("patient %d: %s.%s %s on the wrong side of Start", i, typ, key, ti)
					}
				}
			}
		}
	}
}

func TestTimesUseStartLocation(t *testing.T) {
	loc := time.FixedZone("", -5*3600)
	b := Generate(Options{Seed: 17, Patients: 1, Start: testStart.In(loc)})[0]
	if !bytes.Contains(b, []byte(`-05:00"`)) || bytes.Contains(b, []byte(`Z"`)) {
		t.Error("times are not written in Start's location")
	}
}

func TestNothingLooksLikeARealPerson(t *testing.T) {
	digits := regexp.MustCompile(`\d`)
	for i, b := range generate(t, 18, 20) {
		for _, e := range b.Entry {
			r := e.Resource
			if names, ok := r["name"].([]any); ok {
				for _, n := range names {
					n := n.(map[string]any)
					parts := []string{n["family"].(string)}
					for _, g := range n["given"].([]any) {
						parts = append(parts, g.(string))
					}
					for _, s := range parts {
						if !digits.MatchString(s) {
							t.Errorf("patient %d: %s name part %q has no digits", i, r["resourceType"], s)
						}
					}
				}
			}
			if tel, ok := r["telecom"].([]any); ok {
				for _, c := range tel {
					c := c.(map[string]any)
					v := c["value"].(string)
					if c["system"] == "phone" && !regexp.MustCompile(`^555-01\d\d$`).MatchString(v) ||
						c["system"] == "email" && !strings.HasSuffix(v, "@example.org") {
						t.Errorf("patient %d: telecom %q", i, v)
					}
				}
			}
		}
	}
}

func TestNotesAreShortPlainText(t *testing.T) {
	for _, b := range generate(t, 19, 5) {
		for _, e := range b.Entry {
			if e.Resource["resourceType"] != "DocumentReference" {
				continue
			}
			att := e.Resource["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
			text, err := base64.StdEncoding.DecodeString(att["data"].(string))
			if err != nil || att["contentType"] != "text/plain" {
				t.Fatalf("attachment %v: %v", att["contentType"], err)
			}
			if !strings.HasPrefix(string(text), "Oncology visit note\n") || len(text) > 1000 {
				t.Errorf("note %q", text)
			}
		}
	}
}

// required lists, per type, elements every generated resource must carry:
// R4's minimum cardinalities and what a portal needs to show the resource.
var required = map[string][]string{
	"Patient":           {"identifier", "name", "gender", "birthDate", "address", "telecom", "communication"},
	"RelatedPerson":     {"patient", "relationship", "name", "telecom"},
	"Condition":         {"clinicalStatus", "verificationStatus", "category", "code", "subject", "onsetDateTime"},
	"Encounter":         {"status", "class", "type", "subject", "period"},
	"Observation":       {"status", "category", "code", "subject", "encounter", "effectiveDateTime"},
	"DiagnosticReport":  {"status", "category", "code", "subject", "result", "conclusion"},
	"MedicationRequest": {"status", "intent", "medicationCodeableConcept", "subject", "authoredOn", "dosageInstruction"},
	"Procedure":         {"status", "code", "subject", "performedPeriod"},
	"CarePlan":          {"status", "intent", "category", "subject", "period"},
	"CareTeam":          {"participant", "subject"},
	"Appointment":       {"status", "participant", "start", "end"},
	"Communication":     {"status", "subject", "payload"},
	"DocumentReference": {"status", "type", "subject", "date", "content"},
}

func TestRequiredElementsPresent(t *testing.T) {
	for i, b := range generate(t, 20, 20) {
		for _, e := range b.Entry {
			typ := e.Resource["resourceType"].(string)
			want, ok := required[typ]
			if !ok {
				t.Errorf("patient %d: unexpected %s", i, typ)
			}
			for _, el := range want {
				if _, ok := e.Resource[el]; !ok {
					t.Errorf("patient %d: %s without %s", i, typ, el)
				}
			}
			if typ == "Appointment" {
				for _, p := range e.Resource["participant"].([]any) {
					if p.(map[string]any)["status"] != "accepted" {
						t.Errorf("patient %d: appointment participant %v", i, p)
					}
				}
			}
		}
	}
}
