package consent

import (
	"context"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

func TestParseLabels(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Label
		bad  bool
	}{
		{"R,V", DefaultStepUpLabels, false},
		{" R , V , R ", DefaultStepUpLabels, false},
		{"http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY", []Label{{"http://terminology.hl7.org/CodeSystem/v3-ActCode", "PSY"}}, false},
		{"none", []Label{}, false},
		{"", []Label{}, false},
		{"|R", nil, true},
		{"R,sys|", nil, true},
	} {
		got, err := ParseLabels(c.in)
		if (err != nil) != c.bad || len(got) != len(c.want) {
			t.Errorf("%q: %v, %v", c.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: %v", c.in, got)
			}
		}
	}
}

// TestDecideStepUp: a labelled resource is a step-up denial for a user
// whose sign-in is weak or old, only once the resource is otherwise
// permitted; a type decision carries the obligation; backend services,
// fresh strong sign-ins and unlabelled resources are not asked.
func TestDecideStepUp(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	p := New(Config{StepUp: StepUpRule{Labels: DefaultStepUpLabels, Strong: []string{"strong"}, Ask: "strong", MaxAge: 10 * time.Minute,
		Now: func() time.Time { return now }}})
	user := func(acr string, ago time.Duration) *fhir.Principal {
		return &fhir.Principal{Subject: "u1", Client: "app", ACR: acr, AuthTime: now.Add(-ago),
			Scopes: []fhir.Permission{{Level: "user", Type: "Observation", Ops: "rs"}}}
	}
	backend := &fhir.Principal{Subject: "svc", Client: "svc", Scopes: []fhir.Permission{{Level: "system", Type: "*", Ops: "rs"}}}
	r := &fhir.Resource{Type: "Observation", ID: "o1", JSON: []byte(`{"resourceType":"Observation","id":"o1","meta":{"security":[` +
		`{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HTEST"},` +
		`{"system":"http:\/\/terminology.hl7.org\/CodeSystem\/v3-Confidentiality","code":"R"}]}}`)}
	escaped := &fhir.Resource{Type: "Observation", ID: "o3", JSON: []byte(`{"resourceType":"Observation","id":"o3","meta":{"\u0073ecurity":[` +
		`{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"V"}]}}`)}
	plain := &fhir.Resource{Type: "Observation", ID: "o2", JSON: []byte(`{"resourceType":"Observation","id":"o2","meta":{"security":[` +
		`{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"}]}}`)}
	ctx := context.Background()
	decide := func(who *fhir.Principal, res *fhir.Resource, typ string) Decision {
		d, err := p.Decide(ctx, Request{Principal: who, Interaction: Read, Type: typ, Resource: res})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := decide(user("strong", 5*time.Minute), r, "Observation"); !d.Permit || d.StepUp != nil {
		t.Errorf("fresh strong sign-in: %+v", d)
	}
	for name, who := range map[string]*fhir.Principal{"old": user("strong", time.Hour), "weak": user("pwd", 0)} {
		d := decide(who, r, "Observation")
		if d.Permit || d.StepUp == nil || d.StepUp.ACR != "strong" || d.StepUp.MaxAge != 10*time.Minute || d.Reason == "" {
			t.Errorf("%s sign-in, labelled (escaped system): %+v", name, d)
		}
		if d := decide(who, escaped, "Observation"); d.Permit || d.StepUp == nil {
			t.Errorf("%s sign-in, a label under an escaped key: %+v", name, d)
		}
		if d := decide(who, plain, "Observation"); !d.Permit {
			t.Errorf("%s sign-in, unlabelled: %+v", name, d)
		}
		if d := decide(who, nil, "Observation"); !d.Permit || d.StepUp == nil || !d.StepUp.Needs(r) || d.StepUp.Needs(plain) {
			t.Errorf("%s sign-in, the type: %+v", name, d)
		}
		if d := decide(who, r, "Condition"); d.Permit || d.StepUp != nil {
			t.Errorf("%s sign-in, a type not granted: a plain denial, not a step-up: %+v", name, d)
		}
	}
	if d := decide(backend, r, "Observation"); !d.Permit || d.StepUp != nil {
		t.Errorf("backend service: %+v", d)
	}
}
