package searchparam

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/synth"
)

// TestSynthBundles extracts every resource of generated patients: no
// expression fails, and every entry is well formed.
func TestSynthBundles(t *testing.T) {
	r := registry(t)
	counts := map[string]int{}
	for _, b := range synth.Generate(synth.Options{Seed: 7, Patients: 5}) {
		var bundle struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		for _, e := range bundle.Entry {
			var head struct{ ResourceType string }
			if err := json.Unmarshal(e.Resource, &head); err != nil {
				t.Fatal(err)
			}
			es, err := r.Extract(head.ResourceType, e.Resource)
			if err != nil {
				t.Fatalf("%s: %v", head.ResourceType, err)
			}
			for _, ie := range es {
				checkEntry(t, head.ResourceType, ie)
				counts[head.ResourceType+"."+ie.Param]++
			}
		}
	}
	// A few the generated data is known to carry. (Its references are
	// urn:uuid: ones, which a transaction rewrites before storing: they
	// name no type, so "patient" finds none here.)
	for _, k := range []string{"Patient.identifier", "Patient.birthdate", "Observation.code-value-quantity", "Observation.subject", "Condition.onset-date", "MedicationRequest.authoredon"} {
		if counts[k] == 0 {
			t.Errorf("no %s entry", k)
		}
	}
}

func checkEntry(t *testing.T, typ string, e fhir.IndexEntry) {
	t.Helper()
	if e.Param == "" || e.Kind == "" {
		t.Errorf("%s: entry without param or kind: %+v", typ, e)
	}
	switch e.Kind {
	case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
		if math.IsNaN(e.Low) || math.IsNaN(e.High) || e.Low >= e.High {
			t.Errorf("%s: bad range %+v", typ, e)
		}
	case fhir.TypeString:
		if e.Text == "" && e.Code == "" {
			t.Errorf("%s: empty string entry %+v", typ, e)
		}
	case fhir.TypeToken, fhir.TypeReference, fhir.TypeURI:
		if e.Code == "" && e.Text == "" && e.System == "" {
			t.Errorf("%s: empty entry %+v", typ, e)
		}
	case fhir.TypeComposite:
		if len(e.Parts) == 0 {
			t.Errorf("%s: composite without parts %+v", typ, e)
		}
		for _, p := range e.Parts {
			checkEntry(t, typ, p)
		}
	default:
		t.Errorf("%s: unknown kind %+v", typ, e)
	}
}

func FuzzExtract(f *testing.F) {
	r := registry(f)
	for _, name := range []string{"patient.json", "observation.json", "documentreference.json", "condition.json"} {
		f.Add(readFile(f, name))
	}
	f.Add([]byte(`{"resourceType":"Observation","valueRange":{"low":{"value":1e400}},"effectiveTiming":{"event":["x"]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, typ := range []string{"Patient", "Observation", "DocumentReference", "Condition"} {
			es, err := r.Extract(typ, raw)
			if err != nil {
				continue
			}
			for _, e := range es {
				checkEntry(t, typ, e)
			}
		}
	})
}
