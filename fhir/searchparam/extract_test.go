package searchparam

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

var (
	loadOnce sync.Once
	loaded   *Registry
	loadErr  error
)

func registry(t testing.TB) *Registry {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = Load() })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func extract(t testing.TB, r *Registry, typ string, raw []byte) []fhir.IndexEntry {
	t.Helper()
	es, err := r.Extract(typ, raw)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// ms is an instant in Unix milliseconds.
func ms(s string) float64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return float64(t.UnixMilli())
}

var inf = math.Inf(1)

func tok(param, system, code, text string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeToken, System: system, Code: code, Text: text}
}

func str(param, written, folded string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeString, Code: written, Text: folded}
}

func ref(param, system, code string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeReference, System: system, Code: code}
}

func date(param string, lo, hi float64) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeDate, Low: lo, High: hi}
}

func qty(param, system, code string, lo, hi float64) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeQuantity, System: system, Code: code, Low: lo, High: hi}
}

func composite(param string, parts ...fhir.IndexEntry) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeComposite, Parts: parts}
}

// want checks the entries of each parameter named in want, exactly and in
// order; a parameter with a nil list must have no entry.
func want(t *testing.T, got []fhir.IndexEntry, want map[string][]fhir.IndexEntry) {
	t.Helper()
	for param, w := range want {
		var g []fhir.IndexEntry
		for _, e := range got {
			if e.Param == param {
				g = append(g, e)
			}
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got  %s\n want %s", param, show(g), show(w))
		}
	}
}

func show(es []fhir.IndexEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n\t%+v", e)
	}
	return b.String()
}

func TestPatient(t *testing.T) {
	es := extract(t, registry(t), "Patient", readFile(t, "patient.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		"_id":          {tok("_id", "", "p1", "")},
		"_lastUpdated": {date("_lastUpdated", ms("2024-03-05T10:00:00Z"), ms("2024-03-05T10:00:00.001Z"))},
		"_profile":     {{Param: "_profile", Kind: fhir.TypeURI, Code: "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}},
		"_tag":         {tok("_tag", "http://example.org/tags", "synthetic", "synthetic data")},
		"_security":    nil,
		"active":       {tok("active", "", "true", "")},
		"gender":       {tok("gender", "", "female", "")},
		// The _birthDate extension does not disturb the value.
		"birthdate": {date("birthdate", ms("1974-12-25T00:00:00Z"), ms("1974-12-26T00:00:00Z"))},
		// Absent deceased[x] is "not deceased", as the expression says.
		"deceased": {tok("deceased", "", "false", "")},
		"name": {
			str("name", "Dr.", "dr."),
			str("name", "Anna", "anna"),
			str("name", "Maria", "maria"),
			str("name", "Müller", "muller"),
			str("name", "Dr. Anna Maria Müller", "dr. anna maria muller"),
			str("name", "Annie", "annie"),
		},
		"family": {str("family", "Müller", "muller")},
		"given":  {str("given", "Anna", "anna"), str("given", "Maria", "maria")},
		"address": {
			str("address", "12 Elm Street", "12 elm street"),
			str("address", "Flat 3", "flat 3"),
			str("address", "Springfield", "springfield"),
			str("address", "IL", "il"),
			str("address", "62704", "62704"),
			str("address", "US", "us"),
			str("address", "12 Elm Street Flat 3 Springfield IL 62704 US", "12 elm street flat 3 springfield il 62704 us"),
		},
		"address-city":       {str("address-city", "Springfield", "springfield")},
		"address-postalcode": {str("address-postalcode", "62704", "62704")},
		"address-use":        {tok("address-use", "", "home", "")},
		"identifier": {
			tok("identifier", "http://hospital.example.org/mrn", "MRN-0042", "mrn"),
			tok("identifier", "http://hl7.org/fhir/sid/us-ssn", "999-01-0042", ""),
		},
		"identifier:of-type":   {tok("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "MRN-0042")},
		"telecom":              {tok("telecom", "", "555-0142", ""), tok("telecom", "", "anna@example.org", "")},
		"phone":                {tok("phone", "", "555-0142", "")},
		"email":                {tok("email", "", "anna@example.org", "")},
		"language":             {tok("language", "urn:ietf:bcp:47", "de", ""), tok("language", "", "", "german")},
		"general-practitioner": {ref("general-practitioner", "Practitioner", "Practitioner/dr1")},
		// Not under the server's base (none set): kept as written.
		"organization": {ref("organization", "", "https://fhir.example.org/r4/Organization/org1/_history/3")},
		"link":         nil,
		"link:identifier": {{Param: "link:identifier", Kind: fhir.TypeReference,
			System: "http://hospital.example.org/mrn", Code: "MRN-0007", Text: "MRN-0007"}},
		"phonetic": nil, // unsupported
	})
}

func TestBaseURL(t *testing.T) {
	r := registry(t).WithBaseURL("https://fhir.example.org/r4/")
	es := extract(t, r, "Patient", readFile(t, "patient.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		"organization": {ref("organization", "Organization", "Organization/org1")},
	})
	// The registry it came from is unchanged.
	es = extract(t, registry(t), "Patient", readFile(t, "patient.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		"organization": {ref("organization", "", "https://fhir.example.org/r4/Organization/org1/_history/3")},
	})
}

func TestObservation(t *testing.T) {
	es := extract(t, registry(t), "Observation", readFile(t, "observation.json"))
	loinc := func(param, code, display string) fhir.IndexEntry {
		return tok(param, "http://loinc.org", code, display)
	}
	ucum := func(param, code string, lo, hi float64) fhir.IndexEntry {
		return qty(param, "http://unitsofmeasure.org", code, lo, hi)
	}
	hb := ucum("value-quantity", "g/dL", 13.495, 13.505)
	sys := ucum("component-value-quantity", "mm[Hg]", 119.5, 120.5)
	dia := ucum("component-value-quantity", "mm[Hg]", 79.5, 80.5)
	rename := func(e fhir.IndexEntry, param string) fhir.IndexEntry { e.Param = param; return e }
	want(t, es, map[string][]fhir.IndexEntry{
		"status":   {tok("status", "", "final", "")},
		"category": {tok("category", "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "vital signs")},
		// The concept's text is an entry of its own, for :text.
		"code":      {loinc("code", "85354-9", "blood pressure panel"), tok("code", "", "", "blood pressure")},
		"subject":   {ref("subject", "Patient", "Patient/p1")},
		"patient":   {ref("patient", "Patient", "Patient/p1")},
		"encounter": {ref("encounter", "Encounter", "Encounter/e1")},
		// effectivePeriod: start to end, the end's second included.
		"date": {date("date", ms("2024-03-05T09:30:00Z"), ms("2024-03-05T09:45:01Z"))},
		// A reference to a contained resource is not indexed.
		"performer":                nil,
		"value-quantity":           {hb},
		"component-code":           {loinc("component-code", "8480-6", "systolic blood pressure"), loinc("component-code", "8462-4", "diastolic blood pressure")},
		"component-value-quantity": {sys, dia},
		"combo-code": {
			loinc("combo-code", "85354-9", "blood pressure panel"), tok("combo-code", "", "", "blood pressure"),
			loinc("combo-code", "8480-6", "systolic blood pressure"), loinc("combo-code", "8462-4", "diastolic blood pressure"),
		},
		"combo-value-quantity": {rename(hb, "combo-value-quantity"), rename(sys, "combo-value-quantity"), rename(dia, "combo-value-quantity")},
		"code-value-quantity": {
			composite("code-value-quantity", loinc("code", "85354-9", "blood pressure panel"), hb),
		},
		"component-code-value-quantity": {
			composite("component-code-value-quantity", loinc("component-code", "8480-6", "systolic blood pressure"), sys),
			composite("component-code-value-quantity", loinc("component-code", "8462-4", "diastolic blood pressure"), dia),
		},
		"combo-code-value-quantity": {
			composite("combo-code-value-quantity", loinc("combo-code", "85354-9", "blood pressure panel"), rename(hb, "combo-value-quantity")),
			composite("combo-code-value-quantity", loinc("combo-code", "8480-6", "systolic blood pressure"), rename(sys, "combo-value-quantity")),
			composite("combo-code-value-quantity", loinc("combo-code", "8462-4", "diastolic blood pressure"), rename(dia, "combo-value-quantity")),
		},
		"value-concept":      nil,
		"code-value-concept": nil,
	})
}

func TestEncounter(t *testing.T) {
	es := extract(t, registry(t), "Encounter", readFile(t, "encounter.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		// An open end runs to +Inf; the zone is honoured.
		"date":         {date("date", ms("2024-03-05T08:00:00Z"), inf)},
		"class":        {tok("class", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory")},
		"participant":  {ref("participant", "Practitioner", "Practitioner/dr1"), ref("participant", "RelatedPerson", "RelatedPerson/rp1")},
		"practitioner": {ref("practitioner", "Practitioner", "Practitioner/dr1")},
		"length":       {qty("length", "http://unitsofmeasure.org", "min", 44.5, 45.5)},
		"patient":      {ref("patient", "Patient", "Patient/p1")},
	})
}

func TestMedicationRequest(t *testing.T) {
	es := extract(t, registry(t), "MedicationRequest", readFile(t, "medicationrequest.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		"authoredon": {date("authoredon", ms("2024-03-05T00:00:00Z"), ms("2024-03-06T00:00:00Z"))},
		// The expression selects each event of the timing.
		"date": {
			date("date", ms("2024-03-06T08:00:00Z"), ms("2024-03-06T08:00:01Z")),
			date("date", ms("2024-03-27T08:00:00Z"), ms("2024-03-27T08:00:01Z")),
		},
		"code":       {tok("code", "http://www.nlm.nih.gov/research/umls/rxnorm", "1736854", "cisplatin 1 mg/ml injectable solution")},
		"medication": nil,
		"requester":  {ref("requester", "Practitioner", "Practitioner/dr1")},
		"intent":     {tok("intent", "", "order", "")},
	})
}

func TestCondition(t *testing.T) {
	es := extract(t, registry(t), "Condition", readFile(t, "condition.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		// A month covers the month.
		"onset-date": {date("onset-date", ms("2023-11-01T00:00:00Z"), ms("2023-12-01T00:00:00Z"))},
		"onset-age":  nil,
		// Age with comparator >= is open above.
		"abatement-age":   {qty("abatement-age", "http://unitsofmeasure.org", "a", 51.5, inf)},
		"recorded-date":   {date("recorded-date", ms("2023-11-20T10:15:00.123Z"), ms("2023-11-20T10:15:00.124Z"))},
		"clinical-status": {tok("clinical-status", "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "")},
		"code":            {tok("code", "http://snomed.info/sct", "254837009", "malignant neoplasm of breast")},
	})
}

func TestAppointment(t *testing.T) {
	es := extract(t, registry(t), "Appointment", readFile(t, "appointment.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		"date":         {date("date", ms("2024-04-02T09:00:00Z"), ms("2024-04-02T09:00:01Z"))},
		"actor":        {ref("actor", "Patient", "Patient/p1"), ref("actor", "Practitioner", "Practitioner/dr1"), ref("actor", "Location", "Location/loc1")},
		"patient":      {ref("patient", "Patient", "Patient/p1")},
		"practitioner": {ref("practitioner", "Practitioner", "Practitioner/dr1")},
		"location":     {ref("location", "Location", "Location/loc1")},
		"part-status":  {tok("part-status", "", "accepted", "")},
	})
}

func TestDocumentReference(t *testing.T) {
	es := extract(t, registry(t), "DocumentReference", readFile(t, "documentreference.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		"identifier": {tok("identifier", "urn:ietf:rfc:3986", "urn:oid:1.2.3.4.5", "")},
		"type":       {tok("type", "http://loinc.org", "11506-3", "progress note")},
		// A URN is kept as written; the logical identifier is its own entry.
		"subject": {ref("subject", "", "urn:uuid:5f1e0c3a-7a2b-4a8e-9a4e-0c2f4f1d2b11")},
		"subject:identifier": {{Param: "subject:identifier", Kind: fhir.TypeReference,
			System: "http://hospital.example.org/mrn", Code: "MRN-0042", Text: "MRN-0042"}},
		"patient":     nil, // the subject names no type
		"author":      {ref("author", "Practitioner", "Practitioner/dr1")},
		"date":        {date("date", ms("2024-03-05T11:00:00Z"), ms("2024-03-05T11:00:01Z"))},
		"description": {str("description", "Oncology progress note", "oncology progress note")},
		"location":    {{Param: "location", Kind: fhir.TypeURI, Code: "Binary/b1"}},
		"format":      {tok("format", "urn:oid:1.3.6.1.4.1.19376.1.2.3", "urn:ihe:pcc:xphr:2007", "")},
		"relatesto":   {ref("relatesto", "DocumentReference", "DocumentReference/d0")},
		"relation":    {tok("relation", "", "replaces", "")},
		"relationship": {composite("relationship",
			ref("relatesto", "DocumentReference", "DocumentReference/d0"), tok("relation", "", "replaces", ""))},
		// A Period with only an end starts at -Inf.
		"period": {date("period", math.Inf(-1), ms("2024-03-06T00:00:00Z"))},
	})
}

func TestMoney(t *testing.T) {
	es := extract(t, registry(t), "Invoice", readFile(t, "misc.json"))
	want(t, es, map[string][]fhir.IndexEntry{
		"totalgross": {qty("totalgross", "urn:iso:std:iso:4217", "EUR", 1249.995, 1250.005)},
		"totalnet":   {qty("totalnet", "urn:iso:std:iso:4217", "EUR", 999.5, 1000.5)},
		"subject":    {ref("subject", "Patient", "Patient/p1")},
	})
}

// TestConcurrentExtract: one registry serves every write at once.
func TestConcurrentExtract(t *testing.T) {
	r := registry(t)
	raw := readFile(t, "observation.json")
	first := extract(t, r, "Observation", raw)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				es, err := r.Extract("Observation", raw)
				if err != nil || !reflect.DeepEqual(es, first) {
					errs <- fmt.Sprint("different result: ", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
