package search

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oncofhir/oncofhir/fhir"
)

// FuzzParse: any query string either parses or is refused with a
// *fhir.Error naming the parameter; it never panics. What parses can be
// matched.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name=smith&birthdate=ge1970-01-01",
		"subject:Patient.name=Sm%C3%ADth,jones",
		"_has:Observation:patient:code=http://loinc.org|8480-6",
		"code-value-quantity=http://loinc.org|8480-6$gt100||mm%5BHg%5D",
		`family=a\,b\\c\$d\|e`,
		"value-quantity=ap5.4e-3|http://unitsofmeasure.org|mg",
		"_sort=-date,code&_count=0&_offset=10&_include:iterate=Patient:organization",
		"identifier:of-type=sys|MR|123&gender:not=male&code:text=bp",
		"subject=" + testBase + "/Patient/1/_history/2",
		"patient.organization.name=acme&_id=a,b&_id=b",
		"_lastUpdated=gt2024-06-01T10:00:00.1234%2B02:00&_tag:missing=true",
		"item=x&url:below=http://a&probability=-0.0001",
	} {
		f.Add("Observation", s, false)
		f.Add("Patient", s, true)
	}
	f.Fuzz(func(t *testing.T, typ, query string, strict bool) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p, err := Parse(typ, values, testParams, Options{Strict: strict, Now: testNow, BaseURL: testBase})
		if err != nil {
			var fe *fhir.Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *fhir.Error", err)
			}
			if s := fe.HTTPStatus(); s != 400 {
				t.Fatalf("status %d, want 400: %v", s, err)
			}
			if len(fe.Expression) != 1 {
				t.Fatalf("Expression %v does not name one parameter", fe.Expression)
			}
			return
		}
		if p.Count < 0 || p.Count > MaxCount || p.Query.Limit != p.Count || p.Query.Type != typ {
			t.Fatalf("count %d, limit %d, type %q", p.Count, p.Query.Limit, p.Query.Type)
		}
		walk(t, p, func(q *Parsed) {
			for _, c := range q.Query.Clauses {
				if c.Missing == nil && len(c.Values) == 0 {
					t.Fatalf("clause %+v has no value", c)
				}
				for _, v := range c.Values {
					if v.Low > v.High || v.Approx < 0 {
						t.Fatalf("clause %+v: bad range", c)
					}
				}
			}
			Match(nil, q.Query)
		})
	})
}

// walk visits p and every inner query of its chains and _has.
func walk(t *testing.T, p *Parsed, visit func(*Parsed)) {
	visit(p)
	for _, c := range p.Chains {
		if len(c.Targets) == 0 {
			t.Fatalf("chain %s without a target", c.Param)
		}
		for _, in := range c.Targets {
			walk(t, in, visit)
		}
	}
	for _, h := range p.Has {
		walk(t, h.Inner, visit)
	}
}

// FuzzFold: Fold is idempotent, gives valid UTF-8 without upper case,
// doubled spaces or spaces at either end.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"Smíth", "  Mary\t\nAnn ", "İstanbul", "Ωhm Å", "a\xffb", "ﬁ ǅ ẞ", "e\u0301\u0327"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Fold(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Fold(%q) = %q: not UTF-8", s, got)
		}
		if again := Fold(got); again != got {
			t.Fatalf("Fold(%q) = %q, but Fold of that is %q", s, got, again)
		}
		if strings.Contains(got, "  ") || strings.TrimSpace(got) != got {
			t.Fatalf("Fold(%q) = %q: white space left", s, got)
		}
	})
}
