package consent

import (
	"context"
	"encoding/json"
	"slices"
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

// neededByDecoding is what Needs answers, found by decoding the whole
// document as FHIR JSON: the reference its shortcuts must agree with. ok
// is false when the document is not an object with meta.security codings.
func neededByDecoding(s *StepUp, raw []byte) (labelled, ok bool) {
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil || keys == nil {
		return false, false
	}
	meta, found := keys["meta"]
	if !found {
		return false, true
	}
	var metaKeys map[string]json.RawMessage
	if json.Unmarshal(meta, &metaKeys) != nil || metaKeys == nil {
		return false, false
	}
	var codings []struct{ System, Code string }
	if sec, found := metaKeys["security"]; found && json.Unmarshal(sec, &codings) != nil {
		return false, false
	}
	for _, c := range codings {
		if slices.Contains(s.Labels, Label{c.System, c.Code}) {
			return true, true
		}
	}
	return false, true
}

var needsCases = []struct {
	name, doc string
	want      bool
}{
	{"no meta", `{"resourceType":"Observation","status":"final"}`, false},
	{"labelled R", `{"resourceType":"Observation","meta":{"security":[{"system":"` + SystemConfidentiality + `","code":"R"}]}}`, true},
	{"labelled N only", `{"resourceType":"Observation","meta":{"security":[{"system":"` + SystemConfidentiality + `","code":"N"}]}}`, false},
	{"R of another system", `{"meta":{"security":[{"system":"urn:other","code":"R"}]}}`, false},
	{"meta last, after an escaped narrative", `{"text":{"div":"\u003cdiv\u003e\"meta\":{}\u003c/div\u003e"},"n":[1,2.5e3,true,null,{"a":[]}],` +
		`"meta":{"security":[{"system":"` + SystemConfidentiality + `","code":"V"}]}}`, true},
	{"an escaped narrative, no label", "{\"text\":{\"div\":\"\\u003cdiv\\u003esecurity\\\\\\u003c/div\\u003e\"},\n \"meta\" : { \"versionId\" : \"1\" } }", false},
	{"escaped meta key", `{"\u006deta":{"security":[{"system":"` + SystemConfidentiality + `","code":"R"}]}}`, true},
	{"escaped security key and code", `{"meta":{"\u0073ecurity":[{"system":"` + SystemConfidentiality + `","code":"\u0052"}]}}`, true},
	{"meta in another case, not FHIR's", `{"Meta":{"security":[{"system":"` + SystemConfidentiality + `","code":"R"}]}}`, false},
	{"security in another case, not FHIR's", `{"meta":{"Security":[{"system":"` + SystemConfidentiality + `","code":"R"}]}}`, false},
	{"a label after one that is not", `{"meta":{"security":[{"system":"urn:x","code":"a"},{"system":"` + SystemConfidentiality + `","code":"V"}]}}`, true},
	{"a label in a contained resource only", `{"contained":[{"meta":{"security":[{"system":"` + SystemConfidentiality + `","code":"R"}]}}],"meta":{}}`, false},
	{"a label in a string", `{"note":[{"text":"{\"meta\":{\"security\":[{\"system\":\"` + SystemConfidentiality + `\",\"code\":\"R\"}]}}"}]}`, false},
	{"meta that is not an object", `{"meta":"security"}`, true},
	{"not an object", `["security"]`, true},
	{"not JSON", `{"meta":{"security":[`, true},
}

func TestNeeds(t *testing.T) {
	s := &StepUp{Labels: DefaultStepUpLabels}
	for _, c := range needsCases {
		r := &fhir.Resource{JSON: []byte(c.doc)}
		if got := s.Needs(r); got != c.want {
			t.Errorf("%s: Needs = %v, want %v", c.name, got, c.want)
		}
		if want, ok := neededByDecoding(s, r.JSON); ok && want != c.want {
			t.Errorf("%s: decoding the whole document answers otherwise", c.name)
		}
	}
	if s.Needs(benchObservation("")) || !s.Needs(benchObservation("R")) {
		t.Error("the benchmark's Observation")
	}
}

// FuzzNeeds: a document that decoding it whole finds labelled is
// labelled for Needs too.
func FuzzNeeds(f *testing.F) {
	for _, c := range needsCases {
		f.Add(c.doc)
	}
	s := &StepUp{Labels: DefaultStepUpLabels}
	f.Fuzz(func(t *testing.T, doc string) {
		raw := []byte(doc)
		if labelled, _ := neededByDecoding(s, raw); labelled && !s.Needs(&fhir.Resource{JSON: raw}) {
			t.Errorf("Needs misses the label of %s", raw)
		}
	})
}
