package audit

import (
	"testing"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

func TestKindsAreAClosedSetWithUniqueNames(t *testing.T) {
	seen := map[string]Kind{}
	for _, k := range Kinds() {
		name := k.String()
		if name == "" {
			t.Errorf("kind %d has no name", k)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("kinds %d and %d share the name %q", other, k, name)
		}
		seen[name] = k
		if got, ok := ParseKind(name); !ok || got != k {
			t.Errorf("ParseKind(%q) = %d, %v; want %d", name, got, ok, k)
		}
	}
	if KindNone.String() != "" || kindEnd.String() != "" {
		t.Error("KindNone and values outside the set must have no name")
	}
	if _, ok := ParseKind("no-such-kind"); ok {
		t.Error("ParseKind found a kind outside the set")
	}
}

func TestEveryKindIsCoded(t *testing.T) {
	for _, k := range Kinds() {
		d := kinds[k]
		if k.IsRefusal() {
			if d.desc == "" || d.outcome == models.AuditEventOutcome0 {
				t.Errorf("%s: a refusal needs a failure outcome and a text", k)
			}
			continue
		}
		if d.typ.System == nil || d.typ.Code == nil {
			t.Errorf("%s: no type", k)
		}
		if k.IsSecurity() {
			last := d.subtype[len(d.subtype)-1]
			if *last.System != SystemLocal || *last.Code != k.String() {
				t.Errorf("%s: the last subtype is %s|%s, want its own name", k, *last.System, *last.Code)
			}
		} else if len(d.subtype) == 0 {
			t.Errorf("%s: no subtype", k)
		}
	}
}

func TestDisclosureKindsUseTheBALPDisclosureShape(t *testing.T) {
	for _, k := range []Kind{KindEverything, KindExport} {
		d := kinds[k]
		if *d.typ.System != SystemDCM || *d.typ.Code != "110106" || d.action != models.AuditEventActionR {
			t.Errorf("%s: type %s action %s, want DCM 110106 Export, R", k, *d.typ.Code, d.action.Code())
		}
		if *d.subtype[0].System != SystemLifecycle || *d.subtype[0].Code != "disclose" {
			t.Errorf("%s: subtype must include iso-21089-lifecycle#disclose", k)
		}
	}
}

func TestRefusalOf(t *testing.T) {
	tests := []struct {
		status int
		want   Kind
	}{
		{200, KindNone}, {304, KindNone}, {400, KindRejected}, {401, KindUnauthenticated},
		{403, KindForbidden}, {404, KindNotFound}, {409, KindRejected}, {429, KindRejected},
		{500, KindServerError}, {503, KindServerError},
	}
	for _, tt := range tests {
		if got := RefusalOf(tt.status); got != tt.want {
			t.Errorf("RefusalOf(%d) = %s, want %s", tt.status, got, tt.want)
		}
	}
}
