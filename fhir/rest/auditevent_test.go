package rest_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/rest"
)

// auditEvent is an AuditEvent of a REST interaction (a subtype such as
// read or search-type) by agent about patient, recorded at recorded.
func auditEvent(subtype, action, outcome, agent, patient, recorded string) string {
	return `{"resourceType":"AuditEvent",` +
		`"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},` +
		`"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"` + subtype + `"}],` +
		`"action":"` + action + `","recorded":"` + recorded + `","outcome":"` + outcome + `",` +
		`"agent":[{"requestor":true,"who":{"reference":"` + agent + `"}}],` +
		`"source":{"observer":{"display":"oncofhir"}},` +
		`"entity":[{"what":{"reference":"Patient/` + patient + `"}}]}`
}

// storeAuditEvent writes an AuditEvent directly through the store, with the
// index entries the registry extracts, as the audit trail stores them.
func storeAuditEvent(t testing.TB, store fhir.Store, id, body string) {
	t.Helper()
	o, err := fhir.ParseObject([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	now := fhir.TruncateTime(time.Now())
	if err := fhir.Stamp(o, id, 1, now); err != nil {
		t.Fatal(err)
	}
	res := &fhir.Resource{Type: "AuditEvent", ID: id, Version: 1, LastUpdated: now, Method: http.MethodPost, JSON: o.Bytes()}
	if res.Index, err = sharedParams(t).Extract("AuditEvent", res.JSON); err != nil {
		t.Fatal(err)
	}
	if err := store.Write(context.Background(), func(tx fhir.Tx) error { return tx.Put(res) }); err != nil {
		t.Fatal(err)
	}
}

// AuditEvents are the server's record: no principal, and no caller
// without a Guard (the import command), may create, change or delete one.
func TestAuditEventsAreImmutable(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			store := eng.open(t)
			open := newServer(t, store)
			guarded := newServer(t, store, withGuard(t))
			stored := auditEvent("read", "R", "0", "Practitioner/dr", "p1", "2024-03-01T10:00:00Z")
			storeAuditEvent(t, store, "ae1", stored)
			body := strings.Replace(stored, `{"resourceType":"AuditEvent",`, `{"resourceType":"AuditEvent","id":"ae1",`, 1)
			fresh := auditEvent("read", "R", "0", "Practitioner/dr", "p1", "2024-03-02T10:00:00Z")
			patch := `[{"op":"replace","path":"/outcome","value":"8"}]`
			jsonPatch := []string{"Content-Type", "application/json-patch+json"}
			bundle := func(typ, entry string) string {
				return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + entry + `]}`
			}
			entries := []struct{ name, entry string }{
				{"create", `{"resource":` + fresh + `,"request":{"method":"POST","url":"AuditEvent"}}`},
				{"conditional create", `{"resource":` + fresh + `,"request":{"method":"POST","url":"AuditEvent","ifNoneExist":"outcome=8"}}`},
				{"update", `{"resource":` + body + `,"request":{"method":"PUT","url":"AuditEvent/ae1"}}`},
				{"conditional update", `{"resource":` + fresh + `,"request":{"method":"PUT","url":"AuditEvent?outcome=0"}}`},
				{"patch", `{"resource":` + patchBinary(patch) + `,"request":{"method":"PATCH","url":"AuditEvent/ae1"}}`},
				{"conditional patch", `{"resource":` + patchBinary(patch) + `,"request":{"method":"PATCH","url":"AuditEvent?outcome=0"}}`},
				{"delete", `{"request":{"method":"DELETE","url":"AuditEvent/ae1"}}`},
				{"conditional delete", `{"request":{"method":"DELETE","url":"AuditEvent?outcome=0"}}`},
			}
			type request struct {
				name, method, path, body string
				headers                  []string
				allow                    string
			}
			requests := []request{
				{"create", "POST", "/fhir/AuditEvent", fresh, nil, "GET"},
				{"conditional create", "POST", "/fhir/AuditEvent", fresh, []string{"If-None-Exist", "outcome=8"}, "GET"},
				{"update", "PUT", "/fhir/AuditEvent/ae1", body, nil, "GET, HEAD"},
				{"update that would create", "PUT", "/fhir/AuditEvent/ae2", strings.Replace(body, `"id":"ae1"`, `"id":"ae2"`, 1), nil, "GET, HEAD"},
				{"conditional update", "PUT", "/fhir/AuditEvent?outcome=0", fresh, nil, "GET"},
				{"patch", "PATCH", "/fhir/AuditEvent/ae1", patch, jsonPatch, "GET, HEAD"},
				{"conditional patch", "PATCH", "/fhir/AuditEvent?outcome=0", patch, jsonPatch, "GET"},
				{"delete", "DELETE", "/fhir/AuditEvent/ae1", "", nil, "GET, HEAD"},
				{"conditional delete", "DELETE", "/fhir/AuditEvent?outcome=0", "", nil, "GET"},
			}
			for _, e := range entries {
				requests = append(requests,
					request{"a transaction entry: " + e.name, "POST", "/fhir", bundle("transaction", e.entry), nil, ""},
					request{"a batch entry: " + e.name, "POST", "/fhir", bundle("batch", e.entry), nil, ""})
			}
			for _, who := range []struct {
				name string
				s    *server
				p    *fhir.Principal
			}{
				{"without a Guard", open, nil},
				{"an administrator with user/*.cruds", guarded, &fhir.Principal{Subject: "admin", Client: "app", Roles: []string{"admin"}, Scopes: token("", "user/*.cruds").Scopes}},
				{"a backend service with system/*.cruds", guarded, &fhir.Principal{Subject: "siem", Client: "siem", Scopes: token("", "system/*.cruds").Scopes}},
				{"a patient with patient/*.cruds", guarded, token("p1", "patient/*.cruds")},
			} {
				for _, rq := range requests {
					t.Run(who.name+": "+rq.name+" → 405", func(t *testing.T) {
						r, trail := who.s.doTraced(who.p, rq.method, rq.path, rq.body, rq.headers...)
						if len(trail) != 0 {
							t.Errorf("recorded %v", describeTrail(t, trail))
						}
						if strings.Contains(rq.body, `"type":"batch"`) {
							wantStatus(t, r, http.StatusOK)
							resp := responses(t, r)[0]
							if !strings.HasPrefix(resp["status"].(string), "405") || resp["outcome"].(map[string]any)["resourceType"] != "OperationOutcome" {
								t.Errorf("entry response %v", resp)
							}
							return
						}
						wantIssue(t, r, http.StatusMethodNotAllowed, "not-supported", "AuditEvent")
						if got := r.header.Get("Allow"); got != rq.allow {
							t.Errorf("Allow %q, want %q", got, rq.allow)
						}
					})
				}
			}
			t.Run("the AuditEvent is unchanged and no other was stored", func(t *testing.T) {
				res, err := store.Read(context.Background(), "AuditEvent", "ae1")
				if err != nil || res.Version != 1 || res.Deleted {
					t.Fatalf("ae1: %v %+v", err, res)
				}
				found, err := store.Search(context.Background(), fhir.Query{Type: "AuditEvent", Limit: 10})
				if err != nil || len(found) != 1 {
					t.Errorf("%d AuditEvents stored (%v), want 1", len(found), err)
				}
			})
			t.Run("reading them through the API still works", func(t *testing.T) {
				wantStatus(t, open.do("GET", "/fhir/AuditEvent/ae1", ""), http.StatusOK)
				r := open.do("POST", "/fhir", bundle("batch", `{"request":{"method":"GET","url":"AuditEvent/ae1"}}`))
				if got := entryStatuses(t, r); got != "200" {
					t.Errorf("batch read: %s", got)
				}
			})
		})
	}
}

func TestTypeInteractionsOfAReadOnlyType(t *testing.T) {
	if got := rest.TypeInteractionsOf("AuditEvent"); slices.ContainsFunc(got, func(c string) bool {
		return c == "create" || c == "update" || c == "patch" || c == "delete"
	}) || !slices.Contains(got, "search-type") || !slices.Contains(got, "read") {
		t.Errorf("AuditEvent: %v", got)
	}
	if got := rest.TypeInteractionsOf("Observation"); !slices.Equal(got, rest.TypeInteractions) {
		t.Errorf("Observation: %v", got)
	}
}
