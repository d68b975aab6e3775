package consent_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

// staff is a user with an account role and the permissions written as
// SMART scopes.
func staff(role, granted string) *fhir.Principal {
	p := who("", granted)
	p.Roles = []string{role}
	return p
}

func TestDecideWhoReadsAuditEvents(t *testing.T) {
	p, reg := policy(t)
	withPatient := staff("auditor", "patient/*.rs")
	withPatient.Patient = "p1"
	for _, tc := range []struct {
		name   string
		who    *fhir.Principal
		op     consent.Interaction
		permit bool
		limits string // as in TestDecideOnAType
	}{
		{"an auditor with user/AuditEvent.rs reads them", staff("auditor", "user/AuditEvent.rs"), consent.Read, true, ""},
		{"an auditor with user/*.rs searches them", staff("auditor", "user/*.rs"), consent.SearchType, true, ""},
		{"an administrator with user/*.rs reads them", staff("admin", "user/*.rs"), consent.Read, true, ""},
		{"an administrator's history of them", staff("admin", "user/*.rs"), consent.HistoryType, true, ""},
		{"an auditor's granular permission keeps its criteria", staff("auditor", "user/AuditEvent.rs?outcome=8"), consent.SearchType, true, ":1"},
		{"a backend service with system/AuditEvent.rs (a SIEM export)", who("", "system/AuditEvent.rs"), consent.SearchType, true, ""},
		{"a backend service with system/*.rs", who("", "system/*.rs"), consent.Read, true, ""},
		{"an auditor without a permission covering them → denied", staff("auditor", "user/Observation.rs"), consent.Read, false, ""},
		{"an auditor with r only does not search → denied", staff("auditor", "user/AuditEvent.r"), consent.SearchType, false, ""},
		{"a nurse with user/*.rs → denied", staff("nurse", "user/*.rs"), consent.SearchType, false, ""},
		{"an oncologist with user/AuditEvent.rs → denied", staff("oncologist", "user/AuditEvent.rs"), consent.Read, false, ""},
		{"a user without a role → denied", who("", "user/*.rs"), consent.Read, false, ""},
		{"a patient with patient/*.rs, about their own record → denied", who("p1", "patient/*.rs"), consent.SearchType, false, ""},
		{"a patient with patient/AuditEvent.rs → denied", who("p1", "patient/AuditEvent.rs"), consent.Read, false, ""},
		{"an auditor's patient-level permission → denied", withPatient, consent.Read, false, ""},
		{"an auditor may not create one", staff("auditor", "user/*.cruds"), consent.Create, false, ""},
		{"an administrator may not update one", staff("admin", "user/*.cruds"), consent.Update, false, ""},
		{"an administrator may not patch one", staff("admin", "user/*.cruds"), consent.Patch, false, ""},
		{"a backend service may not delete one", who("", "system/*.cruds"), consent.Delete, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Decide(context.Background(), consent.Request{Principal: tc.who, Interaction: tc.op, Type: "AuditEvent"})
			if err != nil {
				t.Fatal(err)
			}
			if d.Permit != tc.permit {
				t.Fatalf("permit %v, want %v (%s)", d.Permit, tc.permit, d.Reason)
			}
			if !d.Permit {
				if !strings.Contains(d.Reason, string(tc.op)) || !strings.Contains(d.Reason, "AuditEvent") {
					t.Errorf("reason %q names neither interaction nor type", d.Reason)
				}
				return
			}
			if got := describe(d.Limits); got != tc.limits {
				t.Errorf("limits %q, want %q", got, tc.limits)
			}
		})
	}
	t.Run("a nurse with user/*.rs is refused one AuditEvent too", func(t *testing.T) {
		ae := &fhir.Resource{Type: "AuditEvent", ID: "a", Version: 1, JSON: []byte(`{"resourceType":"AuditEvent","id":"a","entity":[{"what":{"reference":"Patient/p1"}}]}`)}
		d, err := p.Decide(context.Background(), consent.Request{Principal: staff("nurse", "user/*.rs"), Interaction: consent.Read, Type: "AuditEvent", Resource: ae,
			Index: func() ([]fhir.IndexEntry, error) { return reg.Extract(ae.Type, ae.JSON) }})
		if err != nil || d.Permit {
			t.Fatalf("permit %v, %v", d.Permit, err)
		}
	})
}

// A search or history over every type reaches AuditEvents only for those
// who may read them: for others, the decision says so through Except.
func TestDecideOnEveryTypeLeavesOutAuditEvents(t *testing.T) {
	p, _ := policy(t)
	for _, tc := range []struct {
		name      string
		who       *fhir.Principal
		op        consent.Interaction
		unlimited bool
		except    string
	}{
		{"a nurse with user/*.rs: every type but AuditEvent", staff("nurse", "user/*.rs"), consent.SearchSystem, false, "AuditEvent"},
		{"the same for system history", staff("nurse", "user/*.rs"), consent.HistorySystem, false, "AuditEvent"},
		{"a user without a role with user/*.rs", who("", "user/*.rs"), consent.SearchSystem, false, "AuditEvent"},
		{"an auditor with user/*.rs: every type", staff("auditor", "user/*.rs"), consent.SearchSystem, true, ""},
		{"a backend service with system/*.rs: every type", who("", "system/*.rs"), consent.HistorySystem, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Decide(context.Background(), consent.Request{Principal: tc.who, Interaction: tc.op})
			if err != nil || !d.Permit {
				t.Fatalf("permit %v (%s), %v", d.Permit, d.Reason, err)
			}
			if (d.Limits == nil) != tc.unlimited || strings.Join(d.Except, ",") != tc.except {
				t.Errorf("unlimited %v except %v", d.Limits == nil, d.Except)
			}
		})
	}
	t.Run("patient/AuditEvent.s grants no system search", func(t *testing.T) {
		d, _ := p.Decide(context.Background(), consent.Request{Principal: who("p1", "patient/AuditEvent.s"), Interaction: consent.SearchSystem})
		if d.Permit || slices.Contains(d.Types, "AuditEvent") {
			t.Errorf("permit %v types %v", d.Permit, d.Types)
		}
	})
}
