package conformance

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"testing"
)

// The expected lists are the elements marked Σ on the R4 (4.0.1) resource
// pages, in page order.
func TestSummaryElements(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		names  []string
		choice []string
	}{
		{
			typ: "Patient",
			names: []string{"id", "meta", "implicitRules", "identifier", "active", "name", "telecom",
				"gender", "birthDate", "deceased", "address", "managingOrganization", "link"},
			choice: []string{"deceased"},
		},
		{
			// R4 does not mark category, dataAbsentReason, interpretation,
			// note, bodySite, method, specimen, device or referenceRange.
			typ: "Observation",
			names: []string{"id", "meta", "implicitRules", "identifier", "basedOn", "partOf", "status",
				"code", "subject", "focus", "encounter", "effective", "issued", "performer", "value",
				"hasMember", "derivedFrom", "component"},
			choice: []string{"effective", "value"},
		},
		{
			// participant is not marked summary but has min 1.
			typ: "Appointment",
			names: []string{"id", "meta", "implicitRules", "identifier", "status", "cancelationReason",
				"serviceCategory", "serviceType", "specialty", "appointmentType", "reasonCode", "start",
				"end", "participant"},
		},
		{
			// data is not a summary element; url is not an R4 element.
			typ:   "Binary",
			names: []string{"id", "meta", "implicitRules", "contentType", "securityContext"},
		},
		{
			typ: "Bundle",
			names: []string{"id", "meta", "implicitRules", "identifier", "type", "timestamp", "total",
				"link", "entry", "signature"},
		},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			names, choice, ok := SummaryElements(tc.typ)
			if !ok {
				t.Fatalf("SummaryElements(%q) not found", tc.typ)
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("names\n got %q\nwant %q", names, tc.names)
			}
			if got := slices.Sorted(maps.Keys(choice)); !slices.Equal(got, tc.choice) {
				t.Errorf("choice stems = %q, want %q", got, tc.choice)
			}
		})
	}
}

func TestSummaryFilter(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		keep []string
		drop []string
	}{
		{
			typ: "Patient",
			keep: []string{"resourceType", "id", "meta", "implicitRules", "_implicitRules",
				"identifier", "active", "_active", "name", "telecom", "gender", "_gender",
				"birthDate", "_birthDate", "deceasedBoolean", "deceasedDateTime", "_deceasedDateTime",
				"address", "managingOrganization", "link"},
			drop: []string{"text", "contained", "extension", "modifierExtension", "language", "_language",
				"maritalStatus", "multipleBirthBoolean", "multipleBirthInteger", "photo", "contact",
				"communication", "generalPractitioner",
				"deceased", "deceasedString", "deceased[x]", "__birthDate", "birthdate", ""},
		},
		{
			typ: "Observation",
			keep: []string{"resourceType", "id", "meta", "identifier", "basedOn", "partOf",
				"status", "_status", "code", "subject", "focus", "encounter",
				"effectiveDateTime", "effectivePeriod", "effectiveTiming", "effectiveInstant",
				"issued", "performer", "valueQuantity", "valueCodeableConcept", "valueString",
				"_valueString", "valueBoolean", "valueInteger", "valueRange", "valueRatio",
				"valueSampledData", "valueTime", "valueDateTime", "valuePeriod",
				"hasMember", "derivedFrom", "component"},
			drop: []string{"text", "contained", "extension", "category", "dataAbsentReason",
				"interpretation", "note", "bodySite", "method", "specimen", "device", "referenceRange",
				"value", "valueReference", "valueAttachment", "effectiveDate"},
		},
		{
			// agent and source are not marked summary but have min 1.
			typ: "AuditEvent",
			keep: []string{"type", "subtype", "action", "recorded", "outcome", "outcomeDesc",
				"purposeOfEvent", "agent", "source"},
			drop: []string{"period", "entity"},
		},
		{
			// agent is not marked summary but has min 1.
			typ:  "Provenance",
			keep: []string{"target", "recorded", "agent"},
			drop: []string{"occurredPeriod", "occurredDateTime", "policy", "location", "reason",
				"activity", "entity", "signature"},
		},
		{
			typ:  "ResearchStudy",
			keep: []string{"identifier", "title", "status", "phase", "enrollment"},
			drop: []string{"region", "studyDesign", "whyStopped", "recruitment", "result"}, // not R4
		},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			keep, ok := SummaryFilter(tc.typ)
			if !ok {
				t.Fatalf("SummaryFilter(%q) not found", tc.typ)
			}
			for _, k := range tc.keep {
				if !keep(k) {
					t.Errorf("%s dropped, want kept", k)
				}
			}
			for _, k := range tc.drop {
				if keep(k) {
					t.Errorf("%s kept, want dropped", k)
				}
			}
		})
	}
}

func TestSummaryFilterTestdata(t *testing.T) {
	for _, tc := range []struct {
		file, typ string
		want      []string
	}{
		{"patient.json", "Patient", []string{"_birthDate", "active", "address", "birthDate",
			"deceasedBoolean", "gender", "id", "identifier", "managingOrganization", "meta", "name",
			"resourceType", "telecom"}},
		{"observation.json", "Observation", []string{"code", "component", "effectiveDateTime", "id",
			"performer", "resourceType", "status", "subject"}},
	} {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(readTestdata(t, tc.file), &o); err != nil {
			t.Fatal(err)
		}
		keep, _ := SummaryFilter(tc.typ)
		var got []string
		for k := range o {
			if keep(k) {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: kept\n %q\nwant %q", tc.file, got, tc.want)
		}
	}
}

func TestSummaryEveryResourceType(t *testing.T) {
	types := ResourceTypes()
	if got := slices.Sorted(maps.Keys(summaryElements)); !slices.Equal(got, types) {
		t.Fatalf("summary table covers %d types, want the %d resource types", len(got), len(types))
	}
	never := []string{"text", "contained", "extension", "modifierExtension", "language"}
	for _, typ := range types {
		names, choice, ok := SummaryElements(typ)
		if !ok {
			t.Fatalf("%s: not found", typ)
		}
		if len(names) < 3 || !slices.Equal(names[:3], []string{"id", "meta", "implicitRules"}) {
			t.Errorf("%s: starts %q, want id, meta, implicitRules", typ, names)
		}
		for _, n := range never {
			if slices.Contains(names, n) {
				t.Errorf("%s: %s is a summary element", typ, n)
			}
		}
		for stem := range choice {
			if !slices.Contains(names, stem) {
				t.Errorf("%s: choice stem %s not among the names", typ, stem)
			}
		}
		// Every mandatory top-level element of the cardinality table is
		// kept, under each of its names.
		keep, _ := SummaryFilter(typ)
		if st := structures[typ]; st != nil {
			for _, r := range st.required {
				if r.choice == nil && !keep(r.name) {
					t.Errorf("%s: mandatory %s not kept", typ, r.name)
				}
				for _, suffix := range r.choice {
					if !keep(r.name + suffix) {
						t.Errorf("%s: mandatory %s%s not kept", typ, r.name, suffix)
					}
				}
			}
		}
	}
}

func TestSummaryUnknownType(t *testing.T) {
	for _, typ := range []string{"", "Resource", "DomainResource", "SubscriptionStatus", "patient", "HumanName"} {
		if _, _, ok := SummaryElements(typ); ok {
			t.Errorf("SummaryElements(%q) found", typ)
		}
		if keep, ok := SummaryFilter(typ); ok || keep != nil {
			t.Errorf("SummaryFilter(%q) found", typ)
		}
	}
}

func TestSummaryElementsFreshCopies(t *testing.T) {
	names, choice, _ := SummaryElements("Patient")
	names[0] = "changed"
	choice["name"] = true
	names, choice, _ = SummaryElements("Patient")
	if names[0] != "id" || choice["name"] {
		t.Errorf("a caller's change reached the table: %q %v", names, choice)
	}
}

func TestSummaryFilterConcurrentFirstUse(t *testing.T) {
	var wg sync.WaitGroup
	for _, typ := range []string{"Patient", "Observation", "Patient", "Encounter"} {
		wg.Go(func() {
			keep, ok := SummaryFilter(typ)
			if !ok || !keep("id") || keep("text") {
				t.Errorf("%s: filter wrong", typ)
			}
		})
	}
	wg.Wait()
}

func TestSummaryFilterDoesNotAllocate(t *testing.T) {
	keep, _ := SummaryFilter("Observation")
	allocs := testing.AllocsPerRun(100, func() {
		_ = keep("_valueString") && keep("note") && keep("resourceType")
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call", allocs)
	}
}

func BenchmarkSummaryFilter(b *testing.B) {
	keys := []string{"resourceType", "id", "meta", "text", "identifier", "active", "name", "telecom",
		"gender", "birthDate", "_birthDate", "deceasedBoolean", "address", "maritalStatus",
		"communication", "managingOrganization"}
	for b.Loop() {
		keep, _ := SummaryFilter("Patient")
		for _, k := range keys {
			_ = keep(k)
		}
	}
}
