package consent_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/searchparam"
)

var (
	regOnce sync.Once
	reg     *searchparam.Registry
	regErr  error
)

func policy(t testing.TB) (*consent.Policy, *searchparam.Registry) {
	regOnce.Do(func() { reg, regErr = searchparam.Load() })
	if regErr != nil {
		t.Fatal(regErr)
	}
	return consent.New(consent.Config{Params: reg, Compartment: conformance.PatientCompartment(), BaseURL: "http://fhir.test/fhir"}), reg
}

// scopes reads "patient/Observation.rs?category=x user/*.r" into permissions.
func scopes(s string) []fhir.Permission {
	var out []fhir.Permission
	for _, f := range strings.Fields(s) {
		level, rest, _ := strings.Cut(f, "/")
		rest, query, _ := strings.Cut(rest, "?")
		typ, ops, _ := strings.Cut(rest, ".")
		out = append(out, fhir.Permission{Level: level, Type: typ, Ops: ops, Query: query})
	}
	return out
}

func who(patient, granted string) *fhir.Principal {
	return &fhir.Principal{Subject: "u1", Client: "app", Patient: patient, Scopes: scopes(granted)}
}

const lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
const vitals = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"

func TestDecideOnAType(t *testing.T) {
	p, _ := policy(t)
	for _, tc := range []struct {
		name   string
		who    *fhir.Principal
		op     consent.Interaction
		typ    string
		permit bool
		// limits describes the Limits: "" for nil, else one "patient:param=n;..." per limit.
		limits string
	}{
		{"patient/*.rs reads an Observation of the patient in context only", who("p1", "patient/*.rs"), consent.Read, "Observation", true, "p1:0"},
		{"patient/Patient.rs reaches the Patient in context only", who("p1", "patient/Patient.rs"), consent.SearchType, "Patient", true, "p1:0"},
		{"a patient-level permission without a patient in context grants nothing", who("", "patient/*.rs"), consent.Read, "Observation", false, ""},
		{"r does not grant search", who("p1", "patient/Observation.r"), consent.SearchType, "Observation", false, ""},
		{"s does not grant read", who("p1", "patient/Observation.s"), consent.Read, "Observation", false, ""},
		{"r grants vread and instance history", who("p1", "patient/Observation.r"), consent.HistoryInstance, "Observation", true, "p1:0"},
		{"s grants type history", who("p1", "patient/Observation.s"), consent.HistoryType, "Observation", true, "p1:0"},
		{"u grants patch", who("p1", "patient/Observation.u"), consent.Patch, "Observation", true, "p1:0"},
		{"c does not grant update", who("p1", "patient/Observation.c"), consent.Update, "Observation", false, ""},
		{"a permission for another type grants nothing", who("p1", "patient/Condition.cruds"), consent.Read, "Observation", false, ""},
		{"patient/*.rs reads Practitioner without limit", who("p1", "patient/*.rs"), consent.Read, "Practitioner", true, ""},
		{"patient/*.cruds may not create a Practitioner", who("p1", "patient/*.cruds"), consent.Create, "Practitioner", false, ""},
		{"patient/*.rs may not read a Binary", who("p1", "patient/*.rs"), consent.Read, "Binary", false, ""},
		{"patient/Bundle.rs may not search Bundles", who("p1", "patient/Bundle.rs"), consent.SearchType, "Bundle", false, ""},
		{"patient/*.rs reads a ValueSet without limit: a definition", who("p1", "patient/*.rs"), consent.Read, "ValueSet", true, ""},
		{"patient/*.rs searches Locations without limit: a directory", who("p1", "patient/*.rs"), consent.SearchType, "Location", true, ""},
		{"patient/*.rs reads a Device only through its patient", who("p1", "patient/*.rs"), consent.Read, "Device", true, "p1:0"},
		{"patient/*.rs searches Contracts only through the patient", who("p1", "patient/*.rs"), consent.SearchType, "Contract", true, "p1:0"},
		{"patient/*.rs may not search Subscriptions: criteria and channels name anyone", who("p1", "patient/*.rs"), consent.SearchType, "Subscription", false, ""},
		{"patient/*.rs may not read a Slot", who("p1", "patient/*.rs"), consent.Read, "Slot", false, ""},
		{"patient/*.rs may not read a DeviceMetric", who("p1", "patient/*.rs"), consent.Read, "DeviceMetric", false, ""},
		{"patient/*.cruds may not update a Device", who("p1", "patient/*.cruds"), consent.Update, "Device", false, ""},
		{"patient/*.cruds may not create an AuditEvent", who("p1", "patient/*.cruds"), consent.Create, "AuditEvent", false, ""},
		{"patient/*.cruds may not update a Provenance", who("p1", "patient/*.cruds"), consent.Update, "Provenance", false, ""},
		{"patient/*.cruds may not delete a Consent", who("p1", "patient/*.cruds"), consent.Delete, "Consent", false, ""},
		{"patient/*.cruds does not read the patient's AuditEvents", who("p1", "patient/*.cruds"), consent.Read, "AuditEvent", false, ""},
		{"user/*.cruds may not create an AuditEvent", who("", "user/*.cruds"), consent.Create, "AuditEvent", false, ""},
		{"user/*.rs reads without limit", who("p1", "user/*.rs"), consent.Read, "Observation", true, ""},
		{"system/Observation.s searches without limit", who("", "system/Observation.s"), consent.SearchType, "Observation", true, ""},
		{"an unknown level grants nothing", who("p1", "admin/*.cruds"), consent.Read, "Observation", false, ""},
		{"user/Practitioner.rs and patient/*.rs: the union, without limit", who("p1", "user/Practitioner.rs patient/*.rs"), consent.SearchType, "Practitioner", true, ""},
		{"user/*.rs and patient/*.rs: the user-level one reaches everything", who("p1", "user/*.rs patient/*.rs"), consent.SearchType, "Observation", true, ""},
		{"a granular permission limits to its criteria", who("p1", "patient/Observation.rs?category="+lab), consent.SearchType, "Observation", true, "p1:1"},
		{"two criteria on one parameter become one clause", who("p1", "patient/Observation.rs?category="+lab+" patient/Observation.rs?category="+vitals), consent.SearchType, "Observation", true, "p1:1"},
		{"criteria on different parameters stay a union", who("p1", "patient/Observation.rs?category="+lab+" patient/Observation.rs?code=http://loinc.org|718-7"), consent.SearchType, "Observation", true, "p1:1 p1:1"},
		{"a permission without criteria absorbs those with", who("p1", "patient/Observation.rs?category="+lab+" patient/*.rs"), consent.SearchType, "Observation", true, "p1:0"},
		{"a query the server cannot read grants nothing", who("p1", "patient/Observation.rs?colour=blue"), consent.Read, "Observation", false, ""},
		{"a chain in a permission's query grants nothing", who("p1", "patient/Observation.rs?subject.name=x"), consent.Read, "Observation", false, ""},
		{"no principal: denied", nil, consent.Read, "Observation", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Decide(context.Background(), consent.Request{Principal: tc.who, Interaction: tc.op, Type: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			if d.Permit != tc.permit {
				t.Fatalf("permit %v, want %v (%s)", d.Permit, tc.permit, d.Reason)
			}
			if !d.Permit {
				if tc.who != nil && (!strings.Contains(d.Reason, string(tc.op)) || !strings.Contains(d.Reason, tc.typ)) {
					t.Errorf("reason %q names neither interaction nor type", d.Reason)
				}
				return
			}
			if got := describe(d.Limits); got != tc.limits {
				t.Errorf("limits %q, want %q", got, tc.limits)
			}
		})
	}
}

func describe(limits []consent.Limit) string {
	if limits == nil {
		return ""
	}
	var parts []string
	for _, l := range limits {
		n := len(l.Match.Clauses)
		parts = append(parts, l.Patient+":"+string(rune('0'+n)))
	}
	return strings.Join(parts, " ")
}

func TestDecideMergesValues(t *testing.T) {
	p, _ := policy(t)
	d, _ := p.Decide(context.Background(), consent.Request{Principal: who("p1", "patient/Observation.rs?category="+lab+" patient/Observation.rs?category="+vitals), Interaction: consent.SearchType, Type: "Observation"})
	if len(d.Limits) != 1 || len(d.Limits[0].Match.Clauses) != 1 || len(d.Limits[0].Match.Clauses[0].Values) != 2 {
		t.Fatalf("limits %+v", d.Limits)
	}
	// The cached constraint is not changed by merging.
	d, _ = p.Decide(context.Background(), consent.Request{Principal: who("p1", "patient/Observation.rs?category="+lab), Interaction: consent.SearchType, Type: "Observation"})
	if n := len(d.Limits[0].Match.Clauses[0].Values); n != 1 {
		t.Fatalf("cached constraint now has %d values", n)
	}
}

func TestDecideOnEveryType(t *testing.T) {
	p, _ := policy(t)
	for _, tc := range []struct {
		name      string
		who       *fhir.Principal
		permit    bool
		unlimited bool
		anyType   bool
		types     string
	}{
		{"system/*.rs searches every type without limit", who("", "system/*.rs"), true, true, true, ""},
		{"patient/*.rs searches every type, each under limits", who("p1", "patient/*.rs"), true, false, true, ""},
		{"named types are listed", who("p1", "user/Practitioner.s patient/Observation.rs"), true, false, false, "Observation,Practitioner"},
		{"no s anywhere: denied", who("p1", "patient/*.r"), false, false, false, ""},
		{"patient-level s only on types it cannot reach: denied", who("p1", "patient/Binary.s patient/Subscription.s"), false, false, false, ""},
		{"patient-level s on a type reached through its patient", who("p1", "patient/Device.s"), true, false, false, "Device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Decide(context.Background(), consent.Request{Principal: tc.who, Interaction: consent.SearchSystem})
			if err != nil {
				t.Fatal(err)
			}
			if d.Permit != tc.permit || !d.Permit {
				if d.Permit != tc.permit {
					t.Fatalf("permit %v (%s)", d.Permit, d.Reason)
				}
				return
			}
			if (d.Limits == nil) != tc.unlimited || d.AnyType != tc.anyType || strings.Join(d.Types, ",") != tc.types {
				t.Errorf("unlimited %v anyType %v types %v", d.Limits == nil, d.AnyType, d.Types)
			}
		})
	}
}

func TestDecideOnAResource(t *testing.T) {
	p, reg := policy(t)
	obs := func(id, patient, category string) *fhir.Resource {
		return &fhir.Resource{Type: "Observation", ID: id, Version: 1, JSON: []byte(`{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"text":"x"},
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"` + category + `"}]}],"subject":{"reference":"Patient/` + patient + `"}}`)}
	}
	focus := &fhir.Resource{Type: "Observation", ID: "f", Version: 1, JSON: []byte(`{"resourceType":"Observation","id":"f","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},"focus":[{"reference":"Patient/p1"}]}`)}
	for _, tc := range []struct {
		name    string
		who     *fhir.Principal
		res     *fhir.Resource
		permit  bool
		conceal bool
	}{
		{"patient token reads its own Observation", who("p1", "patient/*.rs"), obs("o1", "p1", "laboratory"), true, false},
		{"patient token reads another patient's Observation → concealed", who("p1", "patient/*.rs"), obs("o2", "p2", "laboratory"), false, true},
		{"a reference to the patient outside the compartment parameters does not count", who("p1", "patient/*.rs"), focus, false, true},
		{"a prefix of the patient's id is not the patient", who("p1", "patient/*.rs"), obs("o3", "p10", "laboratory"), false, true},
		{"own Observation outside the granted category → refused, not concealed", who("p1", "patient/Observation.rs?category="+lab), obs("o4", "p1", "vital-signs"), false, false},
		{"own Observation in the granted category", who("p1", "patient/Observation.rs?category="+lab), obs("o5", "p1", "laboratory"), true, false},
		{"another patient's Observation in the granted category → concealed", who("p1", "patient/Observation.rs?category="+lab), obs("o6", "p2", "laboratory"), false, true},
		{"user token with a category: another category → refused", who("", "user/Observation.rs?category="+lab), obs("o7", "p2", "vital-signs"), false, false},
		{"the Patient in context", who("p1", "patient/Patient.r"), &fhir.Resource{Type: "Patient", ID: "p1", JSON: []byte(`{}`)}, true, false},
		{"another Patient → concealed", who("p1", "patient/Patient.r"), &fhir.Resource{Type: "Patient", ID: "p2", JSON: []byte(`{}`)}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.res
			d, err := p.Decide(context.Background(), consent.Request{Principal: tc.who, Interaction: consent.Read, Type: res.Type, Resource: res,
				Index: func() ([]fhir.IndexEntry, error) { return reg.Extract(res.Type, res.JSON) }})
			if err != nil {
				t.Fatal(err)
			}
			if d.Permit != tc.permit || d.Conceal != tc.conceal {
				t.Errorf("permit %v conceal %v (%s), want %v %v", d.Permit, d.Conceal, d.Reason, tc.permit, tc.conceal)
			}
		})
	}
}

func TestDecideOnAWrite(t *testing.T) {
	p, reg := policy(t)
	res := func(typ, body string) *fhir.Resource {
		return &fhir.Resource{Type: typ, ID: "x", Version: 1, JSON: []byte(`{"resourceType":"` + typ + `","id":"x",` + body + `}`)}
	}
	obs := func(refs string) *fhir.Resource {
		return res("Observation", `"status":"final","code":{"text":"x"},`+refs)
	}
	writer := who("p1", "patient/*.cruds")
	abs := reg.WithBaseURL("http://fhir.test/fhir") // reads absolute references to the server as Type/id
	for _, tc := range []struct {
		name    string
		who     *fhir.Principal
		op      consent.Interaction
		res     *fhir.Resource
		permit  bool
		conceal bool
	}{
		{"own Observation", writer, consent.Create, obs(`"subject":{"reference":"Patient/p1"}`), true, false},
		{"a Condition of another patient asserted by the patient in context → concealed", writer, consent.Create,
			res("Condition", `"subject":{"reference":"Patient/p2"},"asserter":{"reference":"Patient/p1"}`), false, true},
		{"own Observation performed by another patient → concealed", writer, consent.Update,
			obs(`"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Patient/p2"}]`), false, true},
		{"another patient's Observation performed by the patient in context → concealed from delete", writer, consent.Delete,
			obs(`"subject":{"reference":"Patient/p2"},"performer":[{"reference":"Patient/p1"}]`), false, true},
		{"... and from patch", writer, consent.Patch,
			obs(`"subject":{"reference":"Patient/p2"},"performer":[{"reference":"Patient/p1"}]`), false, true},
		{"... but still read", writer, consent.Read,
			obs(`"subject":{"reference":"Patient/p2"},"performer":[{"reference":"Patient/p1"}]`), true, false},
		{"an absolute reference to another patient counts", writer, consent.Create,
			obs(`"subject":{"reference":"Patient/p1"},"performer":[{"reference":"http://fhir.test/fhir/Patient/p2/_history/3"}]`), false, true},
		{"an escaped reference to another patient counts", writer, consent.Create,
			obs(`"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Patient\/p2"}]`), false, true},
		{"a reference outside the compartment parameters (focus) does not count", writer, consent.Create,
			obs(`"subject":{"reference":"Patient/p1"},"focus":[{"reference":"Patient/p2"}]`), true, false},
		{"own Patient linked to another patient → concealed", writer, consent.Update,
			res("Patient", `"link":[{"other":{"reference":"Patient/p2"},"type":"seealso"}]`), false, true},
		{"a user-level permission is not bound to a patient", who("p1", "user/*.cruds"), consent.Create,
			res("Condition", `"subject":{"reference":"Patient/p2"},"asserter":{"reference":"Patient/p1"}`), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.res
			if r.Type == "Patient" {
				r.ID = "p1"
			}
			d, err := p.Decide(context.Background(), consent.Request{Principal: tc.who, Interaction: tc.op, Type: r.Type, Resource: r,
				Index: func() ([]fhir.IndexEntry, error) { return abs.Extract(r.Type, r.JSON) }})
			if err != nil {
				t.Fatal(err)
			}
			if d.Permit != tc.permit || d.Conceal != tc.conceal {
				t.Errorf("permit %v conceal %v (%s), want %v %v", d.Permit, d.Conceal, d.Reason, tc.permit, tc.conceal)
			}
		})
	}
}

func TestDecideOnAResourceOutsideTheCompartment(t *testing.T) {
	p, reg := policy(t)
	device := func(patient string) *fhir.Resource {
		return &fhir.Resource{Type: "Device", ID: "d", Version: 1, JSON: []byte(`{"resourceType":"Device","id":"d","patient":{"reference":"Patient/` + patient + `"}}`)}
	}
	for _, tc := range []struct {
		name    string
		res     *fhir.Resource
		permit  bool
		conceal bool
	}{
		{"the Device of the patient in context", device("p1"), true, false},
		{"another patient's Device → concealed", device("p2"), false, true},
		{"a Device of no patient → concealed", &fhir.Resource{Type: "Device", ID: "d", JSON: []byte(`{"resourceType":"Device","id":"d"}`)}, false, true},
		{"a Practitioner", &fhir.Resource{Type: "Practitioner", ID: "pr", JSON: []byte(`{"resourceType":"Practitioner","id":"pr"}`)}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.res
			d, err := p.Decide(context.Background(), consent.Request{Principal: who("p1", "patient/*.rs"), Interaction: consent.Read, Type: r.Type, Resource: r,
				Index: func() ([]fhir.IndexEntry, error) { return reg.Extract(r.Type, r.JSON) }})
			if err != nil {
				t.Fatal(err)
			}
			if d.Permit != tc.permit || d.Conceal != tc.conceal {
				t.Errorf("permit %v conceal %v (%s), want %v %v", d.Permit, d.Conceal, d.Reason, tc.permit, tc.conceal)
			}
		})
	}
}

func TestDecideFailsOnAnUnknownInteraction(t *testing.T) {
	p, _ := policy(t)
	if _, err := p.Decide(context.Background(), consent.Request{Principal: who("p1", "patient/*.rs"), Interaction: "transmogrify", Type: "Observation"}); err == nil {
		t.Fatal("no error")
	}
}

// BenchmarkDecide: the read path asks about the type, then about the
// resource (index entries given, as a store may return them).
func BenchmarkDecide(b *testing.B) {
	p, reg := policy(b)
	pr := who("p1", "patient/Patient.rs patient/Observation.rs?category="+lab+" patient/Condition.rs")
	res := &fhir.Resource{Type: "Observation", ID: "o", JSON: []byte(`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],"subject":{"reference":"Patient/p1"}}`)}
	var err error
	if res.Index, err = reg.Extract("Observation", res.JSON); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := p.Decide(ctx, consent.Request{Principal: pr, Interaction: consent.Read, Type: "Observation"}); !d.Permit {
			b.Fatal(d.Reason)
		}
		if d, _ := p.Decide(ctx, consent.Request{Principal: pr, Interaction: consent.Read, Type: "Observation", Resource: res}); !d.Permit {
			b.Fatal(d.Reason)
		}
	}
}
