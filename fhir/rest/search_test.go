package rest_test

import (
	"time"

	"encoding/base64"
	"github.com/oncofhir/oncofhir/fhir/rest"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// searchEach runs search tests on every engine: the same answers are
// expected from each.
func searchEach(t *testing.T, fn func(t *testing.T, s *server)) { each(t, fn) }

// ids lists the ids of the match entries of a searchset.
func ids(t testing.TB, r response, mode string) []string {
	t.Helper()
	var out []string
	m := r.json(t)
	es, _ := m["entry"].([]any)
	for _, e := range es {
		e := e.(map[string]any)
		if e["search"].(map[string]any)["mode"] != mode {
			continue
		}
		res := e["resource"].(map[string]any)
		out = append(out, res["resourceType"].(string)+"/"+res["id"].(string))
	}
	sort.Strings(out)
	return out
}

func same(a []string, b ...string) bool {
	sort.Strings(b)
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestSearch(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		smith := s.create(`{"resourceType":"Patient","name":[{"family":"Smith","given":["Ann"]}],"birthDate":"1970-05-02","gender":"female"}`)
		smith2 := s.create(`{"resourceType":"Patient","name":[{"family":"Smíth"}],"birthDate":"1982-11-30","gender":"male"}`)
		gold := s.create(`{"resourceType":"Patient","name":[{"family":"Goldsmith"}],"gender":"female"}`)
		obs := func(patient, code, value string) string {
			return s.create(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},"subject":{"reference":"Patient/` + patient + `"},"effectiveDateTime":"2026-01-15T09:30:00Z","valueQuantity":{"value":` + value + `,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"}}`)
		}
		hb := obs(smith, "718-7", "13.5")
		hb2 := obs(smith2, "718-7", "9.1")
		wbc := obs(smith, "6690-2", "5.2")
		P, O := func(id string) string { return "Patient/" + id }, func(id string) string { return "Observation/" + id }

		for _, tc := range []struct {
			name  string
			query string
			want  []string
		}{
			{"string: accent- and case-insensitive prefix, not substring", "Patient?name=smi", []string{P(smith), P(smith2)}},
			{"string :contains finds substrings", "Patient?name:contains=smi", []string{P(smith), P(smith2), P(gold)}},
			{"string :exact is exact", "Patient?family:exact=Smith", []string{P(smith)}},
			{"date of year precision covers the day", "Patient?birthdate=1970", []string{P(smith)}},
			{"date prefixes", "Patient?birthdate=gt1975-01-01", []string{P(smith2)}},
			{"token", "Patient?gender=female", []string{P(smith), P(gold)}},
			{"token :not includes resources without it", "Patient?gender:not=female", []string{P(smith2)}},
			{"token :missing", "Patient?birthdate:missing=true", []string{P(gold)}},
			{"reference and token together", "Observation?patient=Patient/" + smith + "&code=http://loinc.org|718-7", []string{O(hb)}},
			{"bare id reference", "Observation?subject=" + smith2, []string{O(hb2)}},
			{"comma is OR", "Observation?code=718-7,6690-2&patient=" + smith, []string{O(hb), O(wbc)}},
			{"quantity with prefix", "Observation?value-quantity=gt10|http://unitsofmeasure.org|g/dL", []string{O(hb)}},
			{"chain", "Observation?subject:Patient.name=goldsmith,smíth", []string{O(hb), O(hb2), O(wbc)}},
			{"_has", "Patient?_has:Observation:patient:code=6690-2", []string{P(smith)}},
			{"_id", "Patient?_id=" + gold + "," + smith2, []string{P(smith2), P(gold)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do("GET", "/fhir/"+tc.query, "")
				wantStatus(t, r, http.StatusOK)
				if got := ids(t, r, "match"); !same(got, tc.want...) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		t.Run("_include and _revinclude carry search.mode include", func(t *testing.T) {
			r := s.do("GET", "/fhir/Observation?_id="+hb+"&_include=Observation:subject", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "include"); !same(got, P(smith)) {
				t.Errorf("included %v", got)
			}
			r = s.do("GET", "/fhir/Patient?_id="+smith+"&_revinclude=Observation:subject", "")
			if got := ids(t, r, "include"); !same(got, O(hb), O(wbc)) {
				t.Errorf("revincluded %v", got)
			}
			r = s.do("GET", "/fhir/Patient?_id="+smith+"&_revinclude=Observation:*", "")
			if got := ids(t, r, "include"); !same(got, O(hb), O(wbc)) {
				t.Errorf("revincluded through every parameter %v", got)
			}
			r = s.do("GET", "/fhir/Observation?_id="+hb+"&_include=Observation:*", "")
			if got := ids(t, r, "include"); !same(got, P(smith)) {
				t.Errorf("included through every parameter %v", got)
			}
			r = s.do("GET", "/fhir/Patient?_id="+smith+"&_revinclude=*", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "include"); !same(got, O(hb), O(wbc)) {
				t.Errorf("revincluded from every type %v", got)
			}
		})
		t.Run("POST _search with a form body answers like GET", func(t *testing.T) {
			r := s.do("POST", "/fhir/Patient/_search", "name=smi", "Content-Type", "application/x-www-form-urlencoded")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, P(smith), P(smith2)) {
				t.Errorf("got %v", got)
			}
		})
		t.Run("compartment search and $everything stay inside the patient's record", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient/"+smith+"/Observation", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, O(hb), O(wbc)) {
				t.Errorf("compartment %v", got)
			}
			r = s.do("GET", "/fhir/Patient/"+smith+"/$everything", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, P(smith), O(hb), O(wbc)) {
				t.Errorf("$everything %v", got)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/nobody/$everything", ""), http.StatusNotFound)
		})
		t.Run("unknown parameters: listed when lenient, 400 when strict; bad values always 400", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient?colour=blue&name=smi", "")
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(string(r.body), `"mode":"outcome"`) || !strings.Contains(string(r.body), "colour") {
				t.Errorf("no outcome entry naming the parameter: %s", r.body)
			}
			r = s.do("GET", "/fhir/Patient?colour=blue", "", "Prefer", "handling=strict")
			wantStatus(t, r, http.StatusBadRequest)
			if _, expr, _ := r.issue(t); len(expr) == 0 || expr[0] != "colour" {
				t.Errorf("expression %v", expr)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient?birthdate=1970-13", ""), http.StatusBadRequest)
			wantStatus(t, s.do("GET", "/fhir/Patient?birthdate=xx1970", ""), http.StatusBadRequest)
		})
	})
}

func TestConditionalWithAnySearch(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		nosys := s.create(`{"resourceType":"Patient","identifier":[{"value":"456"}],"name":[{"family":"Adeyemi"}],"birthDate":"1961-02-03"}`)
		withsys := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:x","value":"456"}]}`)
		r := s.do("POST", "/fhir/Patient", `{"resourceType":"Patient"}`, "If-None-Exist", "name=adeyemi&birthdate=1961")
		wantStatus(t, r, http.StatusOK)
		if r.json(t)["id"] != nosys {
			t.Errorf("matched %v", r.json(t)["id"])
		}
		wantStatus(t, s.do("DELETE", "/fhir/Patient?identifier=|456", ""), http.StatusNoContent)
		wantStatus(t, s.do("GET", "/fhir/Patient/"+nosys, ""), http.StatusGone)
		wantStatus(t, s.do("GET", "/fhir/Patient/"+withsys, ""), http.StatusOK)
		wantStatus(t, s.do("PUT", "/fhir/Patient?_count=1", `{"resourceType":"Patient"}`), http.StatusBadRequest)
		r = s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:x|456&_has:Observation:patient:code=nothing"}},
		  "request":{"method":"POST","url":"Observation"}}]}`)
		wantStatus(t, r, http.StatusNotFound)
	})
}

func TestSearchPaging(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		const n = 25
		for i := 0; i < n; i++ {
			s.create(`{"resourceType":"Practitioner","name":[{"family":"Pager"}]}`)
		}
		seen := map[string]bool{}
		next := "/fhir/Practitioner?name=pager&_count=10"
		pages := 0
		for next != "" && pages < 10 {
			r := s.do("GET", next, "")
			wantStatus(t, r, http.StatusOK)
			for _, id := range ids(t, r, "match") {
				if seen[id] {
					t.Fatalf("%s on two pages", id)
				}
				seen[id] = true
			}
			pages++
			next = ""
			if l := link(t, r, "next"); l != "" {
				u, _ := url.Parse(l)
				next = u.RequestURI()
			}
		}
		if len(seen) != n || pages != 3 {
			t.Fatalf("%d resources over %d pages", len(seen), pages)
		}
		r := s.do("GET", "/fhir/Practitioner?name=pager&_count=10", "")
		l, _ := url.Parse(link(t, r, "next"))
		tok := l.Query().Get("_cursor")
		payload, sig, _ := strings.Cut(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(payload)
		edited := strings.Replace(string(raw), `"o":10`, `"o":0`, 1)
		if edited == string(raw) {
			t.Fatalf("cursor payload %s", raw)
		}
		forged := base64.RawURLEncoding.EncodeToString([]byte(edited)) + "." + sig
		wantStatus(t, s.do("GET", "/fhir/Practitioner?_cursor="+url.QueryEscape(forged), ""), http.StatusBadRequest)
		wantStatus(t, s.do("GET", "/fhir/Practitioner?_cursor=garbage", ""), http.StatusBadRequest)
		r = s.do("GET", "/fhir/Practitioner?name=pager&_total=accurate&_count=1", "")
		if total := r.json(t)["total"]; total != float64(n) {
			t.Errorf("total %v", total)
		}
	})
}

func TestSearchDeadline(t *testing.T) {
	store := engines[0].open(t)
	s := newServer(t, store, func(d *rest.Deps) { d.SearchTimeout = time.Nanosecond })
	s.create(`{"resourceType":"Patient","name":[{"family":"Late"}]}`)
	r := s.do("GET", "/fhir/Patient?name=late", "")
	wantStatus(t, r, http.StatusBadRequest)
	if code, _, _ := r.issue(t); code != "too-costly" {
		t.Errorf("code %s", code)
	}
}

// TestSearchPagingPastAThousand walks a result set larger than the
// largest page exactly once.
func TestSearchPagingPastAThousand(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		s2 := newServer(t, s.store, func(d *rest.Deps) { d.MaxBodyBytes = 8 << 20 })
		const n = 1203
		var b strings.Builder
		b.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"resource":{"resourceType":"Device","status":"active","lotNumber":"big-set"},"request":{"method":"POST","url":"Device"}}`)
		}
		b.WriteString("]}")
		wantStatus(t, s2.do("POST", "/fhir", b.String()), http.StatusOK)
		seen := map[string]bool{}
		next := "/fhir/Device?status=active&_count=1000&_total=accurate"
		for pages := 0; next != "" && pages < 5; pages++ {
			r := s.do("GET", next, "")
			wantStatus(t, r, http.StatusOK)
			if pages == 0 && r.json(t)["total"] != float64(n) {
				t.Errorf("total %v", r.json(t)["total"])
			}
			for _, id := range ids(t, r, "match") {
				if seen[id] {
					t.Fatalf("%s twice", id)
				}
				seen[id] = true
			}
			next = ""
			if l := link(t, r, "next"); l != "" {
				u, _ := url.Parse(l)
				next = u.RequestURI()
			}
		}
		if len(seen) != n {
			t.Fatalf("walked %d of %d", len(seen), n)
		}
	})
}
