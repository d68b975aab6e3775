package audit

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// secSummary reads a security event in one line: type, action, outcome,
// subtypes, outcomeDesc, then the entities' roles and identifiers.
func secSummary(ev *Event) string {
	r := ev.Resource
	var subs []string
	for _, s := range r.Subtype {
		subs = append(subs, *s.Code)
	}
	s := *r.Type.Code + " " + r.Action.Code() + " " + r.Outcome.Code() + " [" + strings.Join(subs, " ") + "]"
	if r.OutcomeDesc != nil {
		s += " " + *r.OutcomeDesc
	}
	for _, e := range r.Entity {
		switch {
		case e.Role == nil:
			s += " request=" + *e.What.Identifier.Value
		case e.What != nil && e.What.Reference != nil:
			s += " " + *e.Role.Code + "=" + *e.What.Reference
		case e.What != nil:
			s += " " + *e.Role.Code + "=" + *e.What.Identifier.System + "|" + *e.What.Identifier.Value
		default:
			s += " " + *e.Role.Code + "=" + *e.Description
		}
	}
	return s
}

func TestSecurityEvent(t *testing.T) {
	server := "authserver urn:ietf:rfc:3986|https://example.org/fhir net=https://example.org/fhir#5"
	base := func(s SecurityInfo) SecurityInfo {
		s.Time, s.Server = testTime, testBase
		return s
	}
	tests := []struct {
		name   string
		kind   Kind
		info   SecurityInfo
		event  string
		agents []string
	}{
		{"sign-in succeeds → User Authentication, Login, outcome 0; the browser's address on the user",
			KindSignIn, base(SecurityInfo{Account: "acct-1", Role: "oncologist", Success: true, Detail: "password", RemoteAddr: "10.1.2.3", RequestID: "r1"}),
			"110114 E 0 [110122 sign-in] password request=r1",
			[]string{"humanuser urn:oncofhir:account|acct-1 role=oncologist net=10.1.2.3#2 requestor", server}},
		{"sign-in fails for an unknown username → outcome 4, the address alone, no username",
			KindSignIn, base(SecurityInfo{Detail: "bad credentials", RemoteAddr: "10.1.2.3"}),
			"110114 E 4 [110122 sign-in] bad credentials",
			[]string{"110153 net=10.1.2.3#2 requestor", server}},
		{"sign-in fails for a known account → outcome 4 naming the account",
			KindSignIn, base(SecurityInfo{Account: "acct-1", Role: "patient", Detail: "bad credentials"}),
			"110114 E 4 [110122 sign-in] bad credentials",
			[]string{"humanuser urn:oncofhir:account|acct-1 role=patient requestor", server}},
		{"sign-out → Logout",
			KindSignOut, base(SecurityInfo{Account: "acct-1", Success: true}),
			"110114 E 0 [110123 sign-out]",
			[]string{"humanuser urn:oncofhir:account|acct-1 requestor", server}},
		{"a factor enrolled → Security Alert, User Security Attributes Changed, action C",
			KindFactorEnrolled, base(SecurityInfo{Account: "acct-1", Success: true, Detail: "totp"}),
			"110113 C 0 [110137 factor-enrolled] totp",
			[]string{"humanuser urn:oncofhir:account|acct-1 requestor", server}},
		{"a wrong second factor → factor-used with outcome 4",
			KindFactorUsed, base(SecurityInfo{Account: "acct-1", Detail: "totp"}),
			"110114 E 4 [110122 factor-used] totp",
			[]string{"humanuser urn:oncofhir:account|acct-1 requestor", server}},
		{"a token issued → ITI-71 with the grant as policy, the patient and the scopes",
			KindTokenIssued, base(SecurityInfo{Account: "acct-2", Role: "patient", Client: "app", Grant: "g-1", Patient: "p1",
				Scopes: []string{"launch/patient", "patient/*.rs"}, Success: true, RemoteAddr: "10.9.9.9"}),
			"110114 E 0 [ITI-71 token-issued] 1=Patient/p1 13=scopes: launch/patient patient/*.rs",
			[]string{"humanuser urn:oncofhir:account|acct-2 role=patient requestor",
				"110150 urn:oncofhir:oauth-client|app policy=urn:ietf:params:oauth:jti:g-1 net=10.9.9.9#2", server}},
		{"a backend service's token → the client is the requestor",
			KindTokenIssued, base(SecurityInfo{Client: "svc", Grant: "g-2", Success: true}),
			"110114 E 0 [ITI-71 token-issued]",
			[]string{"110150 urn:oncofhir:oauth-client|svc policy=urn:ietf:params:oauth:jti:g-2 requestor", server}},
		{"a token refreshed",
			KindTokenRefreshed, base(SecurityInfo{Account: "acct-2", Client: "app", Grant: "g-1", Success: true}),
			"110114 E 0 [ITI-71 token-refreshed]",
			[]string{"humanuser urn:oncofhir:account|acct-2 requestor",
				"110150 urn:oncofhir:oauth-client|app policy=urn:ietf:params:oauth:jti:g-1", server}},
		{"a token revoked → action D",
			KindTokenRevoked, base(SecurityInfo{Client: "app", Grant: "g-1", Success: true}),
			"110113 D 0 [token-revoked]",
			[]string{"110150 urn:oncofhir:oauth-client|app policy=urn:ietf:params:oauth:jti:g-1 requestor", server}},
		{"an introspection failure is a failure even when reported as done",
			KindIntrospectionFailed, base(SecurityInfo{Client: "rs", Success: true, Detail: "refused: invalid_client"}),
			"110113 E 4 [introspection-failed] refused: invalid_client",
			[]string{"110150 urn:oncofhir:oauth-client|rs requestor", server}},
		{"a client registered → Security Configuration, the client as the object",
			KindClientRegistered, base(SecurityInfo{Client: "app", Scopes: []string{"patient/*.rs"}, Success: true}),
			"110113 C 0 [110129 client-registered] 11=urn:oncofhir:oauth-client|app 13=scopes: patient/*.rs",
			[]string{server}},
		{"a client removed → action D",
			KindClientRemoved, base(SecurityInfo{Client: "app", Success: true}),
			"110113 D 0 [110129 client-removed] 11=urn:oncofhir:oauth-client|app",
			[]string{server}},
		{"a user disabled → the account as the object, not the actor",
			KindUserDisabled, base(SecurityInfo{Account: "acct-3", Role: "proxy", Success: true}),
			"110113 U 0 [110137 user-disabled] 11=urn:oncofhir:account|acct-3",
			[]string{server}},
		{"a key rotated → the key as a Security Resource",
			KindKeyRotated, base(SecurityInfo{Key: "k-2", Success: true, Detail: "signing key rotated"}),
			"110113 U 0 [110129 key-rotated] signing key rotated 13=urn:oncofhir:key|k-2",
			[]string{server}},
		{"a key retired → action D",
			KindKeyRetired, base(SecurityInfo{Key: "k-1", Success: true}),
			"110113 D 0 [110129 key-retired] 13=urn:oncofhir:key|k-1",
			[]string{server}},
		{"an EHR launch made by a staff user for a patient",
			KindLaunchCreated, base(SecurityInfo{Account: "acct-1", Role: "oncologist", Client: "ehr-app", Patient: "p1", Success: true}),
			"110100 C 0 [launch-created] 1=Patient/p1",
			[]string{"humanuser urn:oncofhir:account|acct-1 role=oncologist requestor",
				"110150 urn:oncofhir:oauth-client|ehr-app", server}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := SecurityEvent(tt.kind, tt.info)
			if got := secSummary(ev); got != tt.event {
				t.Errorf("event:\n  %s\nwant:\n  %s", got, tt.event)
			}
			if got := agents(ev); !slices.Equal(got, tt.agents) {
				t.Errorf("agents:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.agents, "\n  "))
			}
			if tt.info.Patient != "" && !slices.Equal(ev.Patients, []string{tt.info.Patient}) {
				t.Errorf("Patients = %q", ev.Patients)
			}
			if ev.Resource.Recorded != "2025-03-04T05:06:07.891Z" {
				t.Errorf("recorded %q", ev.Resource.Recorded)
			}
			validate(t, ev)
		})
	}
}

func TestSecurityEventRefusesOtherKinds(t *testing.T) {
	for _, k := range []Kind{KindNone, KindRead, KindEverything, KindForbidden, kindEnd} {
		if ev := SecurityEvent(k, SecurityInfo{Success: true}); ev != nil {
			t.Errorf("SecurityEvent(%s) built an event; REST kinds go through RESTEvents", k)
		}
	}
}

func TestSecurityEventHoldsOnlyWhatItIsGiven(t *testing.T) {
	// Every text in the event comes from the kind's codes or the fields
	// given: a grant appears only behind BALP's prefix.
	ev := SecurityEvent(KindTokenIssued, SecurityInfo{Account: "acct-2", Client: "app", Grant: "g-77", Success: true, Time: testTime})
	b, _ := json.Marshal(ev.Resource)
	if strings.Count(string(b), "g-77") != 1 || !strings.Contains(string(b), GrantPrefix+"g-77") {
		t.Errorf("the grant is recorded other than as policy: %s", b)
	}
}
