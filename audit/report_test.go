package audit_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
)

// reportNames are the people in the store and fixed lists of apps and
// accounts.
type reportNames struct {
	audit.StoreNames
	apps, accounts map[string]string
}

func (n reportNames) ClientName(_ context.Context, id string) (string, error) { return n.apps[id], nil }

func (n reportNames) AccountUser(_ context.Context, id string) (string, error) {
	return n.accounts[id], nil
}

// put stores a resource version directly.
func putVersion(t *testing.T, s fhir.Store, typ, id string, version int, body string) {
	t.Helper()
	res := &fhir.Resource{Type: typ, ID: id, Version: version, LastUpdated: time.Now().UTC(), Method: http.MethodPut}
	if body == "" {
		res.Deleted, res.Method = true, http.MethodDelete
	} else {
		res.JSON = []byte(body)
	}
	if err := s.Write(context.Background(), func(tx fhir.Tx) error { return tx.Put(res) }); err != nil {
		t.Fatal(err)
	}
}

func concerning(typ, id, patient string) fhir.TrailEntry {
	js := fmt.Sprintf(`{"resourceType":%q,"id":%q,"subject":{"reference":"Patient/%s"}}`, typ, id, patient)
	if typ == "Patient" {
		js = fmt.Sprintf(`{"resourceType":"Patient","id":%q}`, id)
	}
	return fhir.TrailEntry{Type: typ, ID: id, Version: 1, JSON: []byte(js)}
}

// Every identifier below holds "SECRET" or a patient or person id, none
// of which a line may show.
var (
	drAda = &fhir.Principal{Subject: "acct-SECRET-dr", FHIRUser: "Practitioner/dr-ada", Roles: []string{"oncologist"},
		Client: "client-SECRET-ehr", Grant: "grant-SECRET-1", PurposeOfUse: []string{"BTG"}}
	samCares = &fhir.Principal{Subject: "acct-SECRET-sam", FHIRUser: "RelatedPerson/rp-sam", Roles: []string{"proxy"},
		Client: "client-SECRET-app", Grant: "grant-SECRET-2", Patient: "pat-a"}
	annHerself = &fhir.Principal{Subject: "acct-SECRET-ann", FHIRUser: "Patient/pat-a", Roles: []string{"patient"},
		Client: "client-SECRET-app", Grant: "grant-SECRET-3", Patient: "pat-a"}
	benHimself = &fhir.Principal{Subject: "acct-SECRET-ben", FHIRUser: "Patient/pat-b", Roles: []string{"patient"},
		Client: "client-SECRET-app", Grant: "grant-SECRET-4", Patient: "pat-b"}
	otherCarer = &fhir.Principal{Subject: "acct-SECRET-oc", FHIRUser: "RelatedPerson/rp-other", Roles: []string{"proxy"},
		Client: "client-SECRET-app", Grant: "grant-SECRET-5", Patient: "pat-b"}
	frontDesk = &fhir.Principal{Subject: "acct-SECRET-fd", Roles: []string{"front-desk"}, Client: "client-SECRET-ehr", Grant: "grant-SECRET-6"}
	bulk      = &fhir.Principal{Subject: "client-SECRET-bulk", Client: "client-SECRET-bulk", Grant: "grant-SECRET-7"}
	// A token without the fhirUser scope names the account alone.
	samNoFHIRUser = &fhir.Principal{Subject: "acct-SECRET-sam", Roles: []string{"proxy"},
		Client: "client-SECRET-app", Grant: "grant-SECRET-9", Patient: "pat-a"}
	goneApp = &fhir.Principal{Subject: "acct-SECRET-ann", FHIRUser: "Patient/pat-a", Roles: []string{"patient"},
		Client: "client-SECRET-gone", Grant: "grant-SECRET-8", Patient: "pat-a"}
)

// TestAccessReport: the lines of one patient's report, newest first,
// each in plain words, from REST events, disclosures, refusals and app
// grants; events of other patients, older than six years, or without
// meaning to the patient are left out; no line holds an identifier.
func TestAccessReport(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		ctx := context.Background()
		putVersion(t, s, "Patient", "pat-a", 1, `{"resourceType":"Patient","id":"pat-a","name":[{"given":["Ann"],"family":"Abbott"}]}`)
		putVersion(t, s, "Patient", "pat-b", 1, `{"resourceType":"Patient","id":"pat-b","name":[{"given":["Ben"],"family":"Brown"}]}`)
		putVersion(t, s, "Practitioner", "dr-ada", 1, `{"resourceType":"Practitioner","id":"dr-ada","name":[{"use":"old","family":"Smith"},{"prefix":["Dr."],"given":["Ada"],"family":"Okafor"}]}`)
		putVersion(t, s, "RelatedPerson", "rp-sam", 1, `{"resourceType":"RelatedPerson","id":"rp-sam","patient":{"reference":"Patient/pat-a"},"name":[{"text":"Sam Rivera"}]}`)
		putVersion(t, s, "RelatedPerson", "rp-other", 1, `{"resourceType":"RelatedPerson","id":"rp-other","patient":{"reference":"Patient/pat-b"},"name":[{"text":"Olga Other"}]}`)
		rec := newRecorder(t, s, newKey(t), audit.Config{})
		defer rec.Close()

		now := time.Now()
		n := 0
		rest := func(p *fhir.Principal, status int, interaction, typ, id string, trail ...fhir.TrailEntry) {
			n++
			a := audit.RESTAccess{Principal: p, Method: "GET", Interaction: interaction, Type: typ, ID: id, Status: status,
				Path: "/fhir/" + typ, RawQuery: "subject=SECRET", RequestID: fmt.Sprintf("req-SECRET-%d", n), RemoteAddr: "203.0.113.77:5123",
				Trail: trail, Time: now.Add(-time.Duration(n) * time.Hour), Server: "http://SECRET.example/fhir"}
			if err := rec.Record(ctx, audit.RESTEvents(a)...); err != nil {
				t.Fatal(err)
			}
		}
		security := func(kind audit.Kind, info audit.SecurityInfo) {
			n++
			info.Time, info.RemoteAddr, info.RequestID = now.Add(-time.Duration(n)*time.Hour), "203.0.113.77", "req-SECRET-sec"
			if err := rec.Record(ctx, audit.SecurityEvent(kind, info)); err != nil {
				t.Fatal(err)
			}
		}
		rest(drAda, 200, "read", "Observation", "obs-SECRET-1", concerning("Observation", "obs-SECRET-1", "pat-a"))
		rest(samCares, 200, "search-type", "Observation", "", concerning("Observation", "obs-SECRET-1", "pat-a"), concerning("Observation", "obs-SECRET-2", "pat-a"))
		rest(annHerself, 200, "everything", "Patient", "pat-a", concerning("Patient", "pat-a", ""), concerning("Condition", "cond-SECRET-1", "pat-a"))
		rest(bulk, 200, "export", "Patient", "pat-a", concerning("Observation", "obs-SECRET-1", "pat-a"))
		rest(frontDesk, 200, "update", "Patient", "pat-a", concerning("Patient", "pat-a", ""))
		rest(benHimself, 404, "read", "Patient", "pat-a")
		rest(nil, 401, "read", "Patient", "pat-a")
		rest(otherCarer, 404, "read", "Patient", "pat-a")
		security(audit.KindTokenIssued, audit.SecurityInfo{Account: "acct-SECRET-ann", Role: "patient", Client: "client-SECRET-app",
			Grant: "grant-SECRET-3", Patient: "pat-a", Success: true, Scopes: []string{"patient/*.rs"}})
		rest(goneApp, 200, "read", "MedicationRequest", "med-SECRET-1", concerning("MedicationRequest", "med-SECRET-1", "pat-a"))
		rest(samNoFHIRUser, 200, "read", "Condition", "cond-SECRET-1", concerning("Condition", "cond-SECRET-1", "pat-a"))
		security(audit.KindTokenIssued, audit.SecurityInfo{Account: "acct-SECRET-sam", Role: "proxy", Client: "client-SECRET-app",
			Grant: "grant-SECRET-9", Patient: "pat-a", Success: true})
		security(audit.KindTokenIssued, audit.SecurityInfo{Account: "acct-SECRET-unknown", Role: "proxy", Client: "client-SECRET-app",
			Patient: "pat-a", Success: true})
		// Accounts no longer known, refused: whose patient or caregiver
		// they were cannot be told.
		rest(&fhir.Principal{Subject: "acct-SECRET-gone1", Roles: []string{"patient"}, Client: "client-SECRET-app"}, 404, "read", "Patient", "pat-a")
		rest(&fhir.Principal{Subject: "acct-SECRET-gone2", Roles: []string{"proxy"}, Client: "client-SECRET-app"}, 403, "read", "Patient", "pat-a")
		// Left out: another patient's data, the patient acting on someone
		// else's record, a refresh, a refused token request, a search
		// that found nothing of hers, and what is older than six years.
		rest(drAda, 200, "read", "Observation", "obs-SECRET-b", concerning("Observation", "obs-SECRET-b", "pat-b"))
		rest(annHerself, 404, "read", "Patient", "pat-b")
		security(audit.KindTokenRefreshed, audit.SecurityInfo{Account: "acct-SECRET-ann", Role: "patient", Client: "client-SECRET-app", Patient: "pat-a", Success: true})
		security(audit.KindTokenIssued, audit.SecurityInfo{Account: "acct-SECRET-ann", Role: "patient", Client: "client-SECRET-app", Patient: "pat-a", Detail: "refused: invalid_grant"})
		rest(annHerself, 200, "search-type", "Observation", "")
		old := audit.RESTAccess{Principal: drAda, Method: "GET", Interaction: "read", Type: "Patient", ID: "pat-a", Status: 200,
			Trail: []fhir.TrailEntry{concerning("Patient", "pat-a", "")}, Time: now.AddDate(-audit.ReportYears, 0, -1)}
		if err := rec.Record(ctx, audit.RESTEvents(old)...); err != nil {
			t.Fatal(err)
		}

		names := reportNames{StoreNames: audit.StoreNames{Store: s},
			apps:     map[string]string{"client-SECRET-ehr": "Oncology EHR", "client-SECRET-app": "Health app", "client-SECRET-bulk": "Research export"},
			accounts: map[string]string{"acct-SECRET-sam": "RelatedPerson/rp-sam", "acct-SECRET-ann": "Patient/pat-a"}}
		lines, err := audit.AccessReport(ctx, s, "pat-a", time.Time{}, names)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"Dr. Ada Okafor | oncologist | Oncology EHR | looked at your test results and observations | emergency access | emergency",
			"Your caregiver Sam Rivera | caregiver | Health app | searched your test results and observations |  | ",
			"You | you | Health app | downloaded your whole record |  | ",
			"An automated service |  | Research export | downloaded your whole record |  | ",
			"A member of staff | front desk | Oncology EHR | changed your personal details |  | ",
			"Another patient | patient | Health app | was refused access to your record |  | refused",
			"Someone who was not signed in |  |  | was refused access to your record |  | refused",
			"Another patient's caregiver | caregiver | Health app | was refused access to your record |  | refused",
			"You | you | Health app | let an app use your record |  | ",
			"You | you | an app whose name is not known | looked at your medicines |  | ",
			"Your caregiver Sam Rivera | caregiver | Health app | looked at your conditions |  | ",
			"Your caregiver Sam Rivera | caregiver | Health app | let an app use your record |  | ",
			"Your caregiver | caregiver | Health app | let an app use your record |  | ",
			"A patient | patient | Health app | was refused access to your record |  | refused",
			"A caregiver | caregiver | Health app | was refused access to your record |  | refused",
		}
		var got []string
		for i, l := range lines {
			flags := ""
			if l.Emergency {
				flags = "emergency"
			}
			if l.Refused {
				flags += "refused"
			}
			got = append(got, strings.Join([]string{l.Who, l.Role, l.App, l.What, l.Why, flags}, " | "))
			if i > 0 && l.Time.After(lines[i-1].Time) {
				t.Errorf("line %d is newer than the one before it", i)
			}
			text := fmt.Sprintf("%+v", l)
			for _, id := range []string{"SECRET", "203.0.113", "pat-a", "pat-b", "dr-ada", "rp-sam", "rp-other", "urn:", "Patient/", "BTG"} {
				if strings.Contains(text, id) {
					t.Errorf("line %d holds %q: %s", i, id, text)
				}
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(lines) > 0 && !lines[0].Time.Equal(now.Add(-time.Hour).UTC().Truncate(time.Millisecond)) {
			t.Errorf("first line at %v, want %v", lines[0].Time, now.Add(-time.Hour))
		}

		// A later since leaves the older lines out.
		recent, err := audit.AccessReport(ctx, s, "pat-a", now.Add(-150*time.Minute), names)
		if err != nil {
			t.Fatal(err)
		}
		if len(recent) != 2 {
			t.Errorf("since 2½ hours ago: %d lines, want 2", len(recent))
		}
		if _, err := audit.AccessReport(ctx, s, "../x", time.Time{}, names); err == nil {
			t.Error("a malformed patient id was accepted")
		}
	})
}

// TestAccessReportPages: a report longer than one page of reads holds
// every line once, newest first. On the embedded engine only: FerretDB
// scans every AuditEvent for each page, and the engines' paging is held
// equal by the store contract suite.
func TestAccessReportPages(t *testing.T) {
	s := engines()[0].open(t) // sqlite
	ctx := context.Background()
	rec := newRecorder(t, s, newKey(t), audit.Config{})
	defer rec.Close()
	const total = 1207
	now := time.Now()
	var events []*audit.Event
	for i := range total {
		a := audit.RESTAccess{Principal: annHerself, Method: "GET", Interaction: "read", Type: "Patient", ID: "pat-a", Status: 200,
			Trail: []fhir.TrailEntry{concerning("Patient", "pat-a", "")}, Time: now.Add(-time.Duration(i) * time.Minute)}
		events = append(events, audit.RESTEvents(a)...)
	}
	for len(events) > 0 {
		k := min(len(events), 400)
		if err := rec.Record(ctx, events[:k]...); err != nil {
			t.Fatal(err)
		}
		events = events[k:]
	}
	lines, err := audit.AccessReport(ctx, s, "pat-a", time.Time{}, audit.StoreNames{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != total {
		t.Fatalf("%d lines, want %d", len(lines), total)
	}
	for i := 1; i < len(lines); i++ {
		if !lines[i].Time.Before(lines[i-1].Time) {
			t.Fatalf("line %d at %v, line %d at %v: not newest first, or repeated", i-1, lines[i-1].Time, i, lines[i].Time)
		}
	}
}

// TestStoreNames: a person's name as people read it, from the name a
// person is known by, even once the resource is deleted; nothing for a
// resource that is not a person's or has no name.
func TestStoreNames(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		ctx := context.Background()
		putVersion(t, s, "Practitioner", "p1", 1, `{"resourceType":"Practitioner","name":[{"use":"official","prefix":["Dr."],"given":["Ada","N."],"family":"Okafor","suffix":["MD"]},{"use":"usual","given":["Ada"],"family":"Okafor"}]}`)
		putVersion(t, s, "Practitioner", "p2", 1, `{"resourceType":"Practitioner","name":[{"use":"maiden","family":"Smith"},{"text":"  Nurse Kim Lee "}]}`)
		putVersion(t, s, "RelatedPerson", "r1", 1, `{"resourceType":"RelatedPerson","name":[{"given":["Sam"],"family":"Rivera"}]}`)
		putVersion(t, s, "RelatedPerson", "r1", 2, "")
		putVersion(t, s, "Patient", "x1", 1, `{"resourceType":"Patient"}`)
		putVersion(t, s, "Organization", "o1", 1, `{"resourceType":"Organization","name":"Clinic"}`)
		names := audit.StoreNames{Store: s}
		for _, c := range []struct{ ref, want string }{
			{"Practitioner/p1", "Ada Okafor"},
			{"Practitioner/p2", "Nurse Kim Lee"},
			{"RelatedPerson/r1", "Sam Rivera"},
			{"Patient/x1", ""},
			{"Patient/none", ""},
			{"Organization/o1", ""},
			{"Practitioner", ""},
		} {
			got, err := names.PersonName(ctx, c.ref)
			if err != nil || got != c.want {
				t.Errorf("PersonName(%s) = %q, %v; want %q", c.ref, got, err, c.want)
			}
		}
	})
}
