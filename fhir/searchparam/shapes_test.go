package searchparam

import (
	"math"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

// TestShapes checks one data type or edge at a time, on small resources.
func TestShapes(t *testing.T) {
	r := registry(t)
	tests := []struct {
		name string
		typ  string
		json string
		want map[string][]fhir.IndexEntry
	}{
		{
			"Timing covers its events and bounds", "ServiceRequest",
			`{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
			  "occurrenceTiming":{"event":["2024-05-01"],"repeat":{"boundsPeriod":{"start":"2024-04-01","end":"2024-04-30"},"frequency":1,"period":1,"periodUnit":"d"}}}`,
			map[string][]fhir.IndexEntry{"occurrence": {date("occurrence", ms("2024-04-01T00:00:00Z"), ms("2024-05-02T00:00:00Z"))}},
		},
		{
			"Period with neither start nor end gives nothing", "Encounter",
			`{"resourceType":"Encounter","status":"planned","class":{"code":"AMB"},"period":{}}`,
			map[string][]fhir.IndexEntry{"date": nil},
		},
		{
			"invalid date gives nothing", "Patient",
			`{"resourceType":"Patient","birthDate":"25.12.1974"}`,
			map[string][]fhir.IndexEntry{"birthdate": nil},
		},
		{
			"Range for a quantity parameter", "Condition",
			`{"resourceType":"Condition","subject":{"reference":"Patient/p1"},
			  "onsetRange":{"low":{"value":40,"unit":"a","system":"http://unitsofmeasure.org","code":"a"},"high":{"value":50,"unit":"a","system":"http://unitsofmeasure.org","code":"a"}}}`,
			map[string][]fhir.IndexEntry{"onset-age": {qty("onset-age", "http://unitsofmeasure.org", "a", 39.5, 50.5)}},
		},
		{
			"Range open above", "Condition",
			`{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"onsetRange":{"low":{"value":40,"unit":"years"}}}`,
			map[string][]fhir.IndexEntry{"onset-age": {qty("onset-age", "", "years", 39.5, math.Inf(1))}},
		},
		{
			"Quantity with a unit only, and comparator <", "Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":0.5,"comparator":"<","unit":"mg"}}`,
			map[string][]fhir.IndexEntry{"value-quantity": {qty("value-quantity", "", "mg", math.Inf(-1), 0.55)}},
		},
		{
			"SampledData gives nothing", "Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueSampledData":{"origin":{"value":0},"period":10,"dimensions":1,"data":"1 2 3"}}`,
			map[string][]fhir.IndexEntry{"value-quantity": nil, "combo-value-quantity": nil},
		},
		{
			"value as CodeableConcept, string and boolean", "Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},
			  "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009","display":"Negative"}],"text":"negative"},
			  "component":[{"code":{"text":"y"},"valueString":"Trace"},{"code":{"text":"z"},"valueBoolean":true}]}`,
			map[string][]fhir.IndexEntry{
				// The text folds as the display does: no entry of its own.
				"value-concept": {tok("value-concept", "http://snomed.info/sct", "260385009", "negative")},
				"value-string":  {str("value-string", "negative", "negative")},
				// The code is a text alone, which no composite value names.
				"code-value-concept":  nil,
				"combo-value-concept": {tok("combo-value-concept", "http://snomed.info/sct", "260385009", "negative")},
			},
		},
		{
			"number with its precision", "RiskAssessment",
			`{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/p1"},
			  "prediction":[{"probabilityDecimal":0.25},{"probabilityRange":{"low":{"value":0.1},"high":{"value":0.2}}}]}`,
			map[string][]fhir.IndexEntry{"probability": {
				{Param: "probability", Kind: fhir.TypeNumber, Code: "0.25", Low: 0.245, High: 0.255},
				{Param: "probability", Kind: fhir.TypeNumber, Low: 0.05, High: 0.25},
			}},
		},
		{
			"integer number", "MolecularSequence",
			`{"resourceType":"MolecularSequence","coordinateSystem":0,"variant":[{"start":100,"end":101}]}`,
			map[string][]fhir.IndexEntry{"variant-start": {{Param: "variant-start", Kind: fhir.TypeNumber, Code: "100", Low: 99.5, High: 100.5}}},
		},
		{
			"composite component on %resource", "MolecularSequence",
			`{"resourceType":"MolecularSequence","coordinateSystem":0,
			  "referenceSeq":{"chromosome":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/chromosome-human","code":"1"}]}},
			  "variant":[{"start":100,"end":101}]}`,
			map[string][]fhir.IndexEntry{"chromosome-variant-coordinate": {composite("chromosome-variant-coordinate",
				tok("chromosome", "http://terminology.hl7.org/CodeSystem/chromosome-human", "1", ""),
				fhir.IndexEntry{Param: "variant-start", Kind: fhir.TypeNumber, Code: "100", Low: 99.5, High: 100.5},
				fhir.IndexEntry{Param: "variant-end", Kind: fhir.TypeNumber, Code: "101", Low: 100.5, High: 101.5},
			)}},
		},
		{
			"versioned local reference", "Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1/_history/2"},
			  "hasMember":[{"reference":"Observation/o1/_history/x y"},{"type":"Observation","display":"no reference"}]}`,
			map[string][]fhir.IndexEntry{
				"subject":    {ref("subject", "Patient", "Patient/p1")},
				"patient":    {ref("patient", "Patient", "Patient/p1")},
				"has-member": {ref("has-member", "", "Observation/o1/_history/x y")},
			},
		},
		{
			"reference to a Group is not a patient", "Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Group/g1"}}`,
			map[string][]fhir.IndexEntry{
				"subject": {ref("subject", "Group", "Group/g1")},
				"patient": nil,
			},
		},
		{
			"canonical with a version", "QuestionnaireResponse",
			`{"resourceType":"QuestionnaireResponse","status":"completed","questionnaire":"http://example.org/Questionnaire/phq9|2.0"}`,
			map[string][]fhir.IndexEntry{"questionnaire": {
				ref("questionnaire", "", "http://example.org/Questionnaire/phq9|2.0"),
				ref("questionnaire", "", "http://example.org/Questionnaire/phq9"),
			}},
		},
		{
			"Identifier chosen by as()", "Composition",
			`{"resourceType":"Composition","status":"final","type":{"text":"x"},"date":"2024","author":[{"reference":"Practitioner/dr1"}],"title":"t",
			  "relatesTo":[{"code":"replaces","targetIdentifier":{"system":"urn:s","value":"v1","type":{"coding":[{"system":"urn:t","code":"FILL"}]}}},
			               {"code":"appends","targetReference":{"reference":"Composition/c0"}}]}`,
			map[string][]fhir.IndexEntry{
				"related-id":         {tok("related-id", "urn:s", "v1", "")},
				"related-id:of-type": {tok("related-id:of-type", "urn:t", "FILL", "v1")},
				"related-ref":        {ref("related-ref", "Composition", "Composition/c0")},
				"date":               {date("date", ms("2024-01-01T00:00:00Z"), ms("2025-01-01T00:00:00Z"))},
			},
		},
		{
			"Coding with a display only; empty Coding", "Observation",
			`{"resourceType":"Observation","status":"final","code":{"coding":[{"display":"Héllo  World"},{}]}}`,
			map[string][]fhir.IndexEntry{"code": {tok("code", "", "", "hello world")}},
		},
		{
			"Identifier without value gives nothing", "Patient",
			`{"resourceType":"Patient","identifier":[{"system":"urn:s"}]}`,
			map[string][]fhir.IndexEntry{"identifier": nil},
		},
		{
			"Address with text; HumanName with one part", "Patient",
			`{"resourceType":"Patient","address":[{"text":"1 Main St, Town","city":"Town"}],"name":[{"family":"Ng"}]}`,
			map[string][]fhir.IndexEntry{
				"address": {str("address", "Town", "town"), str("address", "1 Main St, Town", "1 main st, town")},
				"name":    {str("name", "Ng", "ng")},
			},
		},
		{
			"duplicates are written once", "Patient",
			`{"resourceType":"Patient","name":[{"given":["Ann"]},{"given":["Ann"]}]}`,
			map[string][]fhir.IndexEntry{"given": {str("given", "Ann", "ann")}},
		},
		{
			"deceased", "Patient",
			`{"resourceType":"Patient","deceasedDateTime":"2020-02-02"}`,
			map[string][]fhir.IndexEntry{
				"deceased":   {tok("deceased", "", "true", "")},
				"death-date": {date("death-date", ms("2020-02-02T00:00:00Z"), ms("2020-02-03T00:00:00Z"))},
			},
		},
		{
			"meta security and source", "Basic",
			`{"resourceType":"Basic","code":{"text":"x"},"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}],"source":"urn:uuid:abc"}}`,
			map[string][]fhir.IndexEntry{
				"_security": {tok("_security", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R", "")},
				"_source":   {{Param: "_source", Kind: fhir.TypeURI, Code: "urn:uuid:abc"}},
			},
		},
		{
			"the context of a definition", "PlanDefinition",
			`{"resourceType":"PlanDefinition","status":"active","useContext":[
			  {"code":{"system":"http://terminology.hl7.org/CodeSystem/usage-context-type","code":"age"},"valueRange":{"low":{"value":18,"unit":"a"}}},
			  {"code":{"system":"http://terminology.hl7.org/CodeSystem/usage-context-type","code":"focus"},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"363346000"}]}}]}`,
			map[string][]fhir.IndexEntry{
				"context-quantity": {qty("context-quantity", "", "a", 17.5, math.Inf(1))},
				"context":          {tok("context", "http://snomed.info/sct", "363346000", "")},
				"context-type-quantity": {composite("context-type-quantity",
					tok("context-type", "http://terminology.hl7.org/CodeSystem/usage-context-type", "age", ""),
					qty("context-quantity", "", "a", 17.5, math.Inf(1)))},
				"context-type-value": {composite("context-type-value",
					tok("context-type", "http://terminology.hl7.org/CodeSystem/usage-context-type", "focus", ""),
					tok("context", "http://snomed.info/sct", "363346000", ""))},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want(t, extract(t, r, tt.typ, []byte(tt.json)), tt.want)
		})
	}
}

func TestExtractErrors(t *testing.T) {
	r := registry(t)
	if _, err := r.Extract("Nothing", []byte(`{"resourceType":"Nothing"}`)); err == nil {
		t.Error("unknown type: no error")
	}
	for _, body := range []string{`[]`, `null`, `"x"`, `{`, ``} {
		if _, err := r.Extract("Patient", []byte(body)); err == nil {
			t.Errorf("%q: no error", body)
		}
	}
}

// TestEveryType extracts a minimal resource of every type: no expression
// fails on it, and the parameters of every resource are there.
func TestEveryType(t *testing.T) {
	r := registry(t)
	for typ := range r.types {
		raw := []byte(`{"resourceType":"` + typ + `","id":"x1","meta":{"lastUpdated":"2024-01-01T00:00:00Z","tag":[{"code":"t"}]}}`)
		es, err := r.Extract(typ, raw)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		n := 0
		for _, e := range es {
			if e.Param == "_id" || e.Param == "_lastUpdated" || e.Param == "_tag" {
				n++
			}
		}
		if n != 3 {
			t.Errorf("%s: entries %+v", typ, es)
		}
	}
}

func TestDecimalRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi float64
		ok     bool
	}{
		{"1.5", 1.45, 1.55, true},
		{"100", 99.5, 100.5, true},
		{"1e2", 50, 150, true},
		{"1.50e-1", 0.1495, 0.1505, true},
		{"-1.5", -1.55, -1.45, true},
		{"+2", 1.5, 2.5, true},
		{"0.0", -0.05, 0.05, true},
		{"13.50", 13.495, 13.505, true},
		{"", 0, 0, false},
		{"1.", 0, 0, false},
		{".5", 0, 0, false},
		{"1e", 0, 0, false},
		{"1.5x", 0, 0, false},
		{"abc", 0, 0, false},
		{"1e99999", 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, ok := decimalRange(tt.in)
		if ok != tt.ok || lo != tt.lo || hi != tt.hi {
			t.Errorf("decimalRange(%q) = %v, %v, %v; want %v, %v, %v", tt.in, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
	}
	// More digits than a float64 holds: still a range around the value.
	lo, hi, ok := decimalRange("1234567890123456789.5")
	if v := 1234567890123456789.5; !ok || lo >= v || hi <= v {
		t.Errorf("long decimal: %v, %v, %v", lo, hi, ok)
	}
}
