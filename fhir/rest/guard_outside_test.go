package rest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Types outside the Patient compartment: those that hold no patient's data
// (directories, definitions) are read without limit; those that may name
// a patient (Device.patient, GuidanceResponse.subject, Linkage.item, ...)
// only when they name the patient in context; the others not at all. The
// same holds however a resource comes into an answer.
func TestGuardPatientReachOutsideTheCompartment(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		a := s.admin
		device := func(patient string) string {
			return a.create(`{"resourceType":"Device","status":"active","patient":{"reference":"Patient/` + patient + `"},"owner":{"reference":"Organization/` + f.org + `"}}`)
		}
		d1, d2 := device(f.p1), device(f.p2)
		measured := func(dev string) string {
			return a.create(`{"resourceType":"Observation","status":"final","code":{"text":"pump"},"subject":{"reference":"Patient/` + f.p1 + `"},"device":{"reference":"Device/` + dev + `"}}`)
		}
		od1, od2 := measured(d1), measured(d2)
		gr2 := a.create(`{"resourceType":"GuidanceResponse","moduleUri":"http://example.org/module","status":"success","subject":{"reference":"Patient/` + f.p2 + `"}}`)
		link2 := a.create(`{"resourceType":"Linkage","item":[{"type":"source","resource":{"reference":"Patient/` + f.p2 + `"}},{"type":"alternate","resource":{"reference":"Observation/` + f.o1 + `"}}]}`)
		sub := a.create(`{"resourceType":"Subscription","status":"active","reason":"watch","criteria":"Observation?patient=Patient/` + f.p2 + `","channel":{"type":"rest-hook","endpoint":"https://example.org/hook","header":["Authorization: Bearer secret"]}}`)
		slot := a.create(`{"resourceType":"Slot","schedule":{"reference":"Schedule/x"},"status":"busy","start":"2026-01-01T09:00:00Z","end":"2026-01-01T10:00:00Z"}`)
		vs := a.create(`{"resourceType":"ValueSet","status":"active","name":"Colours"}`)
		D, O := func(id string) string { return "Device/" + id }, func(id string) string { return "Observation/" + id }
		me := token(f.p1, "patient/*.rs")

		for _, tc := range []struct {
			name, path string
			want       int
		}{
			{"reads the patient's own Device", "/fhir/Device/" + d1, 200},
			{"reads another patient's Device → 404", "/fhir/Device/" + d2, 404},
			{"vreads it → 404", "/fhir/Device/" + d2 + "/_history/1", 404},
			{"reads its history → 404", "/fhir/Device/" + d2 + "/_history", 404},
			{"reads another patient's GuidanceResponse → 404", "/fhir/GuidanceResponse/" + gr2, 404},
			{"reads a Linkage of another patient → 404", "/fhir/Linkage/" + link2, 404},
			{"reads a Subscription → 403", "/fhir/Subscription/" + sub, 403},
			{"searches Subscriptions → 403", "/fhir/Subscription", 403},
			{"reads a Slot → 403", "/fhir/Slot/" + slot, 403},
			{"reads a ValueSet: a definition", "/fhir/ValueSet/" + vs, 200},
			{"reads an Organization: a directory", "/fhir/Organization/" + f.org, 200},
			{"may not name Subscription in _type → 403", "/fhir?_type=Device,Subscription", 403},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantStatus(t, s.doAs(me, "GET", tc.path, ""), tc.want)
			})
		}
		for _, tc := range []struct {
			name, query string
			match, inc  []string
		}{
			{"a Device search finds the patient's Devices only", "Device", []string{D(d1)}, nil},
			{"naming another patient finds nothing", "Device?patient=Patient/" + f.p2, nil, nil},
			{"by owner: the patient's Devices only", "Device?organization=Organization/" + f.org, []string{D(d1)}, nil},
			{"another patient's GuidanceResponse is not found", "GuidanceResponse", nil, nil},
			{"nor another patient's Linkage", "Linkage", nil, nil},
			{"a system search over named types", "?_type=Device,GuidanceResponse,Linkage", []string{D(d1)}, nil},
			{"_include leaves out another patient's Device", "Observation?_id=" + od1 + "," + od2 + "&_include=Observation:device", []string{O(od1), O(od2)}, []string{D(d1)}},
			{"_revinclude leaves it out", "Organization?_id=" + f.org + "&_revinclude=Device:organization", []string{"Organization/" + f.org}, []string{D(d1)}},
			{"_revinclude=Linkage:item leaves out a Linkage of another patient", "Observation?_id=" + f.o1 + "&_revinclude=Linkage:item", []string{O(f.o1)}, nil},
			{"a bare _revinclude=* leaves out what it refuses", "Observation?_id=" + f.o1 + "&_revinclude=*", []string{O(f.o1)}, nil},
			{"a ValueSet search is not limited", "ValueSet", []string{"ValueSet/" + vs}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(me, "GET", fhirPath(tc.query), "")
				wantStatus(t, r, http.StatusOK)
				if got := ids(t, r, "match"); !same(got, tc.match...) {
					t.Errorf("matches %v, want %v", got, tc.match)
				}
				if got := ids(t, r, "include"); !same(got, tc.inc...) {
					t.Errorf("included %v, want %v", got, tc.inc)
				}
			})
		}
		t.Run("a bare _revinclude=* brings only the patient's own Device to the Organization", func(t *testing.T) {
			r := s.doAs(me, "GET", fhirPath("Organization?_id="+f.org+"&_revinclude=*"), "")
			wantStatus(t, r, http.StatusOK)
			got := ids(t, r, "include")
			if !slices.Contains(got, D(d1)) || slices.Contains(got, D(d2)) {
				t.Errorf("included %v", got)
			}
		})
		t.Run("type and system history hold the patient's Device only", func(t *testing.T) {
			for _, path := range []string{"/fhir/Device/_history?_count=100", "/fhir/_history?_count=100"} {
				r := s.doAs(me, "GET", path, "")
				wantStatus(t, r, http.StatusOK)
				var got []string
				for _, e := range entries(t, r) {
					got = append(got, strings.TrimPrefix(e["fullUrl"].(string), base+"/"))
				}
				for _, k := range []string{D(d2), "GuidanceResponse/" + gr2, "Linkage/" + link2, "Subscription/" + sub, "Slot/" + slot} {
					if slices.Contains(got, k) {
						t.Errorf("%s holds %s", path, k)
					}
				}
				if path == "/fhir/Device/_history?_count=100" && !slices.Contains(got, D(d1)) {
					t.Errorf("%s lacks %s: %v", path, D(d1), got)
				}
			}
		})
		t.Run("$everything brings in the patient's Device, not another's it refers to", func(t *testing.T) {
			r := s.doAs(me, "GET", "/fhir/Patient/"+f.p1+"/$everything", "")
			wantStatus(t, r, http.StatusOK)
			got := ids(t, r, "match")
			if !slices.Contains(got, D(d1)) || slices.Contains(got, D(d2)) {
				t.Errorf("got %v", got)
			}
		})
		t.Run("a batch reads as its requests would", func(t *testing.T) {
			r := s.doAs(me, "POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
				{"request":{"method":"GET","url":"Device/`+d1+`"}},{"request":{"method":"GET","url":"Device/`+d2+`"}},
				{"request":{"method":"GET","url":"Subscription/`+sub+`"}}]}`)
			if got := entryStatuses(t, r); got != "200,404,403" {
				t.Errorf("entry statuses %s", got)
			}
		})
		t.Run("a patient token may not change a Device, even its own → 403", func(t *testing.T) {
			w := token(f.p1, "patient/*.cruds")
			wantStatus(t, s.doAs(w, "DELETE", "/fhir/Device/"+d1, ""), http.StatusForbidden)
			wantStatus(t, s.doAs(w, "POST", "/fhir/Device", `{"resourceType":"Device","patient":{"reference":"Patient/`+f.p1+`"}}`), http.StatusForbidden)
		})
	})
}
