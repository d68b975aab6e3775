package rest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSearchTypesAndResultParameters(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		pat := s.create(`{"resourceType":"Patient","meta":{"tag":[{"system":"urn:tags","code":"vip"}]},"identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"system":"urn:mrn","value":"M-1"}],"name":[{"family":"Zed"}],"telecom":[{"system":"phone","value":"555-0101"}]}`)
		other := s.create(`{"resourceType":"Patient","name":[{"family":"Young"}]}`)
		bp := func(sys, dia string, when string) string {
			return s.create(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel"}],"text":"Blood pressure"},
			 "subject":{"reference":"Patient/` + pat + `","identifier":{"system":"urn:mrn","value":"M-1"}},"effectiveDateTime":"` + when + `",
			 "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":` + sys + `,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
			              {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":` + dia + `,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`)
		}
		high := bp("150", "95", "2026-01-10T08:00:00Z")
		normal := bp("118", "76", "2026-02-10T08:00:00Z")
		P, O := func(id string) string { return "Patient/" + id }, func(id string) string { return "Observation/" + id }
		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"composite component-code-value-quantity", "Observation?component-code-value-quantity=http://loinc.org|8480-6$gt140", []string{O(high)}},
			{"composite parts must hold in the same component", "Observation?component-code-value-quantity=http://loinc.org|8462-4$gt140", nil},
			{"date with ge of month precision", "Observation?date=ge2026-02", []string{O(normal)}},
			{"date eq of day precision", "Observation?date=2026-01-10", []string{O(high)}},
			{"token :text on the display", "Observation?code:text=blood%20pressure", []string{O(high), O(normal)}},
			{"identifier :of-type", "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|M-1", []string{P(pat)}},
			{"reference :identifier", "Observation?subject:identifier=urn:mrn|M-1", []string{O(high), O(normal)}},
			{"reference :missing", "Observation?encounter:missing=true", []string{O(high), O(normal)}},
			{"_tag", "Patient?_tag=urn:tags|vip", []string{P(pat)}},
			{"telecom token", "Patient?phone=555-0101", []string{P(pat)}},
			{"_lastUpdated", "Patient?_lastUpdated=gt2000-01-01&_id=" + other, []string{P(other)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do("GET", "/fhir/"+tc.query, "")
				wantStatus(t, r, http.StatusOK)
				if got := ids(t, r, "match"); !same(got, tc.want...) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		t.Run("uri :below and :above, number prefixes", func(t *testing.T) {
			vs := s.create(`{"resourceType":"ValueSet","status":"active","url":"http://example.org/fhir/ValueSet/oncology/stages"}`)
			r := s.do("GET", "/fhir/ValueSet?url:below=http://example.org/fhir/ValueSet/oncology", "")
			if got := ids(t, r, "match"); !same(got, "ValueSet/"+vs) {
				t.Errorf(":below %v", got)
			}
			r = s.do("GET", "/fhir/ValueSet?url:above=http://example.org/fhir/ValueSet/oncology/stages/v2", "")
			if got := ids(t, r, "match"); !same(got, "ValueSet/"+vs) {
				t.Errorf(":above %v", got)
			}
			r = s.do("GET", "/fhir/ValueSet?url=http://example.org/fhir/ValueSet/oncology", "")
			if got := ids(t, r, "match"); len(got) != 0 {
				t.Errorf("uri without modifier is exact: %v", got)
			}
			s.create(`{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/` + pat + `"},"prediction":[{"probabilityDecimal":0.72}]}`)
			for q, want := range map[string]bool{"gt0.5": true, "lt0.5": false, "0.72": true, "0.7": true, "0.8": false} {
				r := s.do("GET", "/fhir/RiskAssessment?probability="+q, "")
				wantStatus(t, r, http.StatusOK)
				if got := len(ids(t, r, "match")) == 1; got != want {
					t.Errorf("probability=%s: matched %v, want %v", q, got, want)
				}
			}
		})
		t.Run("references by absolute URL of this server and by :Type; booleans", func(t *testing.T) {
			r := s.do("GET", "/fhir/Observation?subject="+url.QueryEscape(base+"/Patient/"+pat), "")
			if got := ids(t, r, "match"); !same(got, O(high), O(normal)) {
				t.Errorf("absolute URL %v", got)
			}
			r = s.do("GET", "/fhir/Observation?subject:Patient="+pat, "")
			if got := ids(t, r, "match"); !same(got, O(high), O(normal)) {
				t.Errorf(":Patient %v", got)
			}
			r = s.do("GET", "/fhir/Observation?subject:Group="+pat, "")
			if got := ids(t, r, "match"); len(got) != 0 {
				t.Errorf(":Group %v", got)
			}
			act := s.create(`{"resourceType":"Patient","active":true,"name":[{"family":"Active"}]}`)
			r = s.do("GET", "/fhir/Patient?active=true", "")
			if got := ids(t, r, "match"); !same(got, P(act)) {
				t.Errorf("active=true %v", got)
			}
		})
		t.Run("_sort on two keys", func(t *testing.T) {
			a := s.create(`{"resourceType":"Patient","name":[{"family":"Sortkey","given":["Bea"]}],"birthDate":"1990-01-01"}`)
			b := s.create(`{"resourceType":"Patient","name":[{"family":"Sortkey","given":["Al"]}],"birthDate":"1980-01-01"}`)
			c := s.create(`{"resourceType":"Patient","name":[{"family":"Sortkey","given":["Cy"]}],"birthDate":"1980-01-01"}`)
			r := s.do("GET", "/fhir/Patient?family=sortkey&_sort=birthdate,-given", "")
			var got []string
			for _, e := range entries(t, r) {
				got = append(got, e["resource"].(map[string]any)["id"].(string))
			}
			if strings.Join(got, ",") != strings.Join([]string{c, b, a}, ",") {
				t.Errorf("order %v, want %v", got, []string{c, b, a})
			}
		})
		t.Run("_include:iterate follows includes of included resources", func(t *testing.T) {
			org := s.create(`{"resourceType":"Organization","name":"Cancer Centre"}`)
			prac := s.create(`{"resourceType":"Practitioner","name":[{"family":"Iterate"}]}`)
			role := s.create(`{"resourceType":"PractitionerRole","practitioner":{"reference":"Practitioner/` + prac + `"},"organization":{"reference":"Organization/` + org + `"}}`)
			r := s.do("GET", "/fhir/PractitionerRole?_id="+role+"&_include=PractitionerRole:practitioner&_include:iterate=Practitioner:*", "")
			if got := ids(t, r, "include"); !same(got, "Practitioner/"+prac) {
				t.Errorf("include %v", got)
			}
			enc := s.create(`{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/` + pat + `"},"serviceProvider":{"reference":"Organization/` + org + `"}}`)
			r = s.do("GET", "/fhir/Observation?_id="+high+"&_include=Observation:subject&_revinclude:iterate=Encounter:subject", "")
			if got := ids(t, r, "include"); !same(got, P(pat), "Encounter/"+enc) {
				t.Errorf("revinclude:iterate %v", got)
			}
			r = s.do("GET", "/fhir/Observation?_id="+high+"&_include=Observation:subject&_revinclude=Encounter:subject", "")
			if got := ids(t, r, "include"); !same(got, P(pat)) {
				t.Errorf("without :iterate the revinclude applies to the matches only: %v", got)
			}
		})
		t.Run("_sort by date descending, then ascending", func(t *testing.T) {
			r := s.do("GET", "/fhir/Observation?subject=Patient/"+pat+"&_sort=-date", "")
			es := entries(t, r)
			if len(es) != 2 || !strings.HasSuffix(es[0]["fullUrl"].(string), normal) {
				t.Errorf("-date: %s", r.body)
			}
			r = s.do("GET", "/fhir/Observation?subject=Patient/"+pat+"&_sort=date", "")
			if es := entries(t, r); len(es) != 2 || !strings.HasSuffix(es[0]["fullUrl"].(string), high) {
				t.Errorf("date: %s", r.body)
			}
		})
		t.Run("_elements keeps what is asked and marks the resource SUBSETTED", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient?_id="+pat+"&_elements=name", "")
			res := entries(t, r)[0]["resource"].(map[string]any)
			if res["name"] == nil || res["telecom"] != nil || !strings.Contains(string(r.body), "SUBSETTED") {
				t.Errorf("_elements: %s", r.body)
			}
		})
		t.Run("_summary=true keeps the summary elements only", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient?_id="+pat+"&_summary=true", "")
			res := entries(t, r)[0]["resource"].(map[string]any)
			if res["name"] == nil || res["identifier"] == nil || res["telecom"] == nil || !strings.Contains(string(r.body), "SUBSETTED") {
				t.Errorf("_summary=true: %s", r.body)
			}
			r = s.do("GET", "/fhir/Observation?_id="+high+"&_summary=true", "")
			res = entries(t, r)[0]["resource"].(map[string]any)
			if res["code"] == nil || res["component"] == nil || res["category"] != nil {
				t.Errorf("_summary=true on Observation: %s", r.body)
			}
		})
		t.Run("_summary=count and _total=accurate count without listing", func(t *testing.T) {
			r := s.do("GET", "/fhir/Observation?subject=Patient/"+pat+"&_summary=count", "")
			wantStatus(t, r, http.StatusOK)
			if r.json(t)["total"] != float64(2) || r.json(t)["entry"] != nil {
				t.Errorf("_summary=count: %s", r.body)
			}
		})
	})
}

func TestSystemSearchOverSeveralTypes(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		var want []string
		for i := 0; i < 3; i++ {
			want = append(want, "Practitioner/"+s.create(`{"resourceType":"Practitioner","meta":{"tag":[{"system":"urn:t","code":"multi"}]}}`))
			want = append(want, "Organization/"+s.create(`{"resourceType":"Organization","meta":{"tag":[{"system":"urn:t","code":"multi"}]}}`))
		}
		s.create(`{"resourceType":"Device","meta":{"tag":[{"system":"urn:t","code":"multi"}]}}`)
		seen := []string{}
		next := "/fhir?_type=Practitioner,Organization&_tag=urn:t|multi&_count=4&_total=accurate"
		for pages := 0; next != "" && pages < 5; pages++ {
			r := s.do("GET", next, "")
			wantStatus(t, r, http.StatusOK)
			if pages == 0 && r.json(t)["total"] != float64(6) {
				t.Errorf("total %v", r.json(t)["total"])
			}
			seen = append(seen, ids(t, r, "match")...)
			next = ""
			if l := link(t, r, "next"); l != "" {
				u, _ := url.Parse(l)
				next = u.RequestURI()
			}
		}
		if !same(seen, want...) || len(seen) != 6 {
			t.Errorf("got %v, want %v", seen, want)
		}
		wantStatus(t, s.do("GET", "/fhir?_type=Practitioner,Organization&_sort=_lastUpdated", ""), http.StatusBadRequest)
	})
}

func TestSearchPagingEdges(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		var pats []string
		for i := 0; i < 5; i++ {
			pats = append(pats, s.create(`{"resourceType":"Patient","name":[{"family":"Edge"}]}`))
		}
		t.Run("_offset skips matches", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient?family=edge&_offset=3", "")
			if got := ids(t, r, "match"); len(got) != 2 {
				t.Errorf("%d matches after _offset=3 of 5", len(got))
			}
		})
		t.Run("a cursor works only on the endpoint that issued it", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient/"+pats[0]+"/Observation?_count=1", "")
			s.create(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + pats[0] + `"}}`)
			s.create(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + pats[0] + `"}}`)
			r = s.do("GET", "/fhir/Patient/"+pats[0]+"/Observation?_count=1", "")
			l, _ := url.Parse(link(t, r, "next"))
			tok := l.Query().Get("_cursor")
			wantStatus(t, s.do("GET", l.RequestURI(), ""), http.StatusOK)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+pats[1]+"/Observation?_cursor="+url.QueryEscape(tok), ""), http.StatusBadRequest)
			wantStatus(t, s.do("GET", "/fhir/Observation?_cursor="+url.QueryEscape(tok), ""), http.StatusBadRequest)
		})
		t.Run("$everything lists each resource once even when _type repeats", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient/"+pats[0]+"/$everything?_type=Observation,Observation", "")
			got := ids(t, r, "match")
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s twice", id)
				}
				seen[id] = true
			}
			if len(got) != 2 {
				t.Errorf("%v", got)
			}
		})
		t.Run("$everything's self link names the page it is on; compartment search negotiates", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient/"+pats[0]+"/$everything?_count=1", "")
			l, _ := url.Parse(link(t, r, "next"))
			page2 := s.do("GET", l.RequestURI(), "")
			self, _ := url.Parse(link(t, page2, "self"))
			again := s.do("GET", self.RequestURI(), "")
			if a, b := ids(t, page2, "match"), ids(t, again, "match"); !same(a, b...) {
				t.Errorf("self link of page 2 gives %v, page 2 is %v", b, a)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/"+pats[0]+"/Observation?_format=xml", ""), http.StatusNotAcceptable)
		})
		t.Run("$everything adds what the record refers to, never another patient's data", func(t *testing.T) {
			org := s.create(`{"resourceType":"Organization","name":"Infusion Centre"}`)
			other := s.create(`{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/` + pats[2] + `"}}`)
			enc := s.create(`{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/` + pats[3] + `"},"serviceProvider":{"reference":"Organization/` + org + `"},"partOf":{"reference":"Encounter/` + other + `"}}`)
			r := s.do("GET", "/fhir/Patient/"+pats[3]+"/$everything", "")
			if got := ids(t, r, "match"); !same(got, "Patient/"+pats[3], "Encounter/"+enc, "Organization/"+org) {
				t.Errorf("$everything %v", got)
			}
			r = s.do("GET", "/fhir/Patient/"+pats[3]+"/$everything?_type=Encounter", "")
			if got := ids(t, r, "match"); !same(got, "Encounter/"+enc) {
				t.Errorf("$everything?_type=Encounter %v", got)
			}
		})
		t.Run("_has on a search over several types is refused", func(t *testing.T) {
			wantStatus(t, s.do("GET", "/fhir?_type=Patient,Practitioner&_has:Observation:subject:status=final", ""), http.StatusBadRequest)
		})
		t.Run(":iterate follows a chain to its end", func(t *testing.T) {
			prev := ""
			var chain []string
			for i := 0; i < 7; i++ {
				body := `{"resourceType":"Organization","name":"Level"`
				if prev != "" {
					body += `,"partOf":{"reference":"Organization/` + prev + `"}`
				}
				prev = s.create(body + `}`)
				chain = append(chain, "Organization/"+prev)
			}
			r := s.do("GET", "/fhir/Organization?_id="+prev+"&_include:iterate=Organization:partof", "")
			if got := ids(t, r, "include"); len(got) != 6 {
				t.Errorf("%d included, want 6", len(got))
			}
		})
	})
}

// TestRevincludeStarFollowsEveryType: a bare _revinclude=* brings in the
// resources of any type that point to the matches, and only those.
func TestRevincludeStarFollowsEveryType(t *testing.T) {
	searchEach(t, func(t *testing.T, s *server) {
		pat := s.create(`{"resourceType":"Patient","name":[{"family":"Star"}]}`)
		other := s.create(`{"resourceType":"Patient","name":[{"family":"Else"}]}`)
		obs := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + pat + `"}}`)
		enc := s.create(`{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/` + pat + `"}}`)
		rp := s.create(`{"resourceType":"RelatedPerson","patient":{"reference":"Patient/` + pat + `"}}`)
		s.create(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + other + `"}}`)
		r := s.do("GET", "/fhir/Patient?_id="+pat+"&_revinclude=*", "")
		wantStatus(t, r, http.StatusOK)
		if got := ids(t, r, "include"); !same(got, "Observation/"+obs, "Encounter/"+enc, "RelatedPerson/"+rp) {
			t.Errorf("revincluded %v", got)
		}
	})
}
