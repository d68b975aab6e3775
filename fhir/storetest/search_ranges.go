package storetest

import (
	"math"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// rng is a range [lo, hi): Unix milliseconds for dates.
type rng struct{ lo, hi float64 }

func ms(t time.Time) float64 { return float64(t.UnixMilli()) }

func at(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func day(y int, m time.Month, d int) rng {
	return rng{ms(at(y, m, d, 0)), ms(at(y, m, d+1, 0))}
}

func month(y int, m time.Month) rng { return rng{ms(at(y, m, 1, 0)), ms(at(y, m+1, 1, 0))} }

func year(y int) rng { return rng{ms(at(y, 1, 1, 0)), ms(at(y+1, 1, 1, 0))} }

func dateE(param string, r rng) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeDate, Low: r.lo, High: r.hi}
}

func numE(param string, r rng) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeNumber, Low: r.lo, High: r.hi}
}

func qtyE(param string, r rng, system, code string) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeQuantity, Low: r.lo, High: r.hi, System: system, Code: code}
}

func compE(param string, parts ...fhir.IndexEntry) fhir.IndexEntry {
	return fhir.IndexEntry{Param: param, Kind: fhir.TypeComposite, Parts: parts}
}

// rv is a range value under a prefix.
func rv(prefix string, r rng) fhir.Value { return fhir.Value{Prefix: prefix, Low: r.lo, High: r.hi} }

func qv(prefix string, r rng, system, code string) fhir.Value {
	return fhir.Value{Prefix: prefix, Low: r.lo, High: r.hi, System: system, Code: code}
}

func parts(vs ...fhir.Value) fhir.Value { return fhir.Value{Parts: vs} }

var inf = math.Inf(1)

var rangeBehaviours = []behaviour{
	{name: "Clauses on date parameters, every prefix", run: func(e *env) {
		instant := ms(at(2024, 3, 5, 10))
		e.createIx("Observation", "a", dateE("date", day(2024, 3, 5)))
		e.createIx("Observation", "b", dateE("date", rng{instant, instant + 1000}))
		e.createIx("Observation", "c", dateE("date", month(2024, 3)))
		e.createIx("Observation", "d", dateE("date", rng{ms(at(2024, 1, 1, 0)), inf}))  // a period without end
		e.createIx("Observation", "e", dateE("date", rng{-inf, ms(at(2024, 2, 1, 0))})) // a period without start
		e.createIx("Observation", "f", dateE("date", year(2023)))
		e.createIx("Observation", "h", dateE("date", day(2024, 4, 10)))
		e.createIx("Observation", "m", dateE("date", year(2020)), dateE("date", year(2030)))
		e.createIx("Observation", "n", tok("code", loinc, "718-7", ""))
		e.createIx("Encounter", "x", dateE("date", day(2024, 3, 5)))
		mar5 := day(2024, 3, 5)
		date := func(vs ...fhir.Value) fhir.Query {
			return query("Observation", clause("date", fhir.TypeDate, "", vs...))
		}
		near := rv("ap", mar5)
		near.Approx = 10 * 24 * 3600 * 1000 // 10 days
		e.cases(
			searchCase{"no prefix: the entry lies within the value", date(rv("", mar5)), ids("Observation", "a", "b")},
			searchCase{"eq: the entry lies within the value", date(rv("eq", mar5)), ids("Observation", "a", "b")},
			searchCase{"ne: the entry does not lie within the value", date(rv("ne", mar5)), ids("Observation", "c", "d", "e", "f", "h", "m")},
			searchCase{"gt: the entry ends after the value", date(rv("gt", mar5)), ids("Observation", "c", "d", "h", "m")},
			searchCase{"lt: the entry starts before the value", date(rv("lt", mar5)), ids("Observation", "c", "d", "e", "f", "m")},
			searchCase{"ge: gt or eq", date(rv("ge", mar5)), ids("Observation", "a", "b", "c", "d", "h", "m")},
			searchCase{"le: lt or eq", date(rv("le", mar5)), ids("Observation", "a", "b", "c", "d", "e", "f", "m")},
			searchCase{"sa: the entry starts after the value ends", date(rv("sa", mar5)), ids("Observation", "h", "m")},
			searchCase{"eb: the entry ends before the value starts", date(rv("eb", mar5)), ids("Observation", "e", "f", "m")},
			searchCase{"ap: the entry overlaps the widened value", date(near), ids("Observation", "a", "b", "c", "d")},
			searchCase{"values are alternatives", date(rv("", mar5), rv("", day(2024, 4, 10))), ids("Observation", "a", "b", "h")},
			searchCase{"a value may end at +Inf", date(rv("", rng{mar5.lo, inf})), ids("Observation", "a", "b", "h", "m")},
			searchCase{"nothing ends after +Inf", date(rv("gt", rng{mar5.lo, inf})), nil},
			searchCase{"a value may start at -Inf", date(rv("", rng{-inf, ms(at(2024, 2, 1, 0))})), ids("Observation", "e", "f", "m")},
			searchCase{"a window of two clauses, each of which may match another entry",
				query("Observation", clause("date", fhir.TypeDate, "", rv("ge", day(2024, 3, 1))),
					clause("date", fhir.TypeDate, "", rv("lt", day(2024, 4, 1)))),
				ids("Observation", "a", "b", "c", "d", "m")},
			searchCase{"a narrow window",
				query("Observation", clause("date", fhir.TypeDate, "", rv("ge", day(2024, 3, 5))),
					clause("date", fhir.TypeDate, "", rv("le", day(2024, 3, 5)))),
				ids("Observation", "a", "b", "c", "d", "m")},
			searchCase{"a window of sa and eb",
				query("Observation", clause("date", fhir.TypeDate, "", rv("sa", year(2023))),
					clause("date", fhir.TypeDate, "", rv("eb", day(2024, 4, 10)))),
				ids("Observation", "a", "b", "c", "m")},
			searchCase{"an empty Type searches every type", query("", clause("date", fhir.TypeDate, "", rv("", mar5))),
				[]string{"Encounter/x", "Observation/a", "Observation/b"}},
		)
	}},

	{name: "Clauses on number parameters", run: func(e *env) {
		e.createIx("RiskAssessment", "n1", numE("probability", rng{1.45, 1.55}))  // 1.5
		e.createIx("RiskAssessment", "n2", numE("probability", rng{1.5, 2.5}))    // 2
		e.createIx("RiskAssessment", "n3", numE("probability", rng{1.95, 2.05}))  // 2.0
		e.createIx("RiskAssessment", "n4", numE("probability", rng{99.5, 100.5})) // 100
		e.createIx("RiskAssessment", "n5", numE("probability", rng{50, 150}))     // 1e2
		e.createIx("RiskAssessment", "n6", numE("probability", rng{-5.5, -4.5}))  // -5
		p := func(vs ...fhir.Value) fhir.Query {
			return query("RiskAssessment", clause("probability", fhir.TypeNumber, "", vs...))
		}
		near := rv("ap", rng{99.5, 100.5})
		near.Approx = 10
		e.cases(
			searchCase{"eq 2 covers the entries of 2 and 2.0", p(rv("", rng{1.5, 2.5})), ids("RiskAssessment", "n2", "n3")},
			searchCase{"eq 2.0 is more precise", p(rv("eq", rng{1.95, 2.05})), ids("RiskAssessment", "n3")},
			searchCase{"eq 100 leaves out the wider 1e2", p(rv("", rng{99.5, 100.5})), ids("RiskAssessment", "n4")},
			searchCase{"ne", p(rv("ne", rng{1.5, 2.5})), ids("RiskAssessment", "n1", "n4", "n5", "n6")},
			searchCase{"gt", p(rv("gt", rng{1.5, 2.5})), ids("RiskAssessment", "n4", "n5")},
			searchCase{"lt", p(rv("lt", rng{1.5, 2.5})), ids("RiskAssessment", "n1", "n6")},
			searchCase{"ge", p(rv("ge", rng{99.5, 100.5})), ids("RiskAssessment", "n4", "n5")},
			searchCase{"le", p(rv("le", rng{1.45, 1.55})), ids("RiskAssessment", "n1", "n6")},
			searchCase{"sa", p(rv("sa", rng{1.5, 2.5})), ids("RiskAssessment", "n4", "n5")},
			searchCase{"eb", p(rv("eb", rng{1.5, 2.5})), ids("RiskAssessment", "n6")},
			searchCase{"ap", p(near), ids("RiskAssessment", "n4", "n5")},
			searchCase{"lt 0 finds a negative number", p(rv("lt", rng{-0.5, 0.5})), ids("RiskAssessment", "n6")},
		)
	}},

	{name: "Clauses on quantity parameters", run: func(e *env) {
		e.createIx("Observation", "q1", qtyE("value-quantity", rng{5.35, 5.45}, ucum, "mg"))
		e.createIx("Observation", "q2", qtyE("value-quantity", rng{5.35, 5.45}, "", "mg")) // unit text only
		e.createIx("Observation", "q3", qtyE("value-quantity", rng{5.35, 5.45}, ucum, "kg"))
		e.createIx("Observation", "q4", qtyE("value-quantity", rng{6.5, 7.5}, ucum, "mg"))
		vq := func(vs ...fhir.Value) fhir.Query {
			return query("Observation", clause("value-quantity", fhir.TypeQuantity, "", vs...))
		}
		five := rng{5.35, 5.45}
		e.cases(
			searchCase{"a value without a unit matches any unit", vq(qv("", five, "", "")), ids("Observation", "q1", "q2", "q3")},
			searchCase{"a unit code without system matches it in any system", vq(qv("", five, "", "mg")), ids("Observation", "q1", "q2")},
			searchCase{"system and code must both match", vq(qv("", five, ucum, "mg")), ids("Observation", "q1")},
			searchCase{"a system without a code is no unit", vq(qv("", five, ucum, "")), ids("Observation", "q1", "q2", "q3")},
			searchCase{"a prefix with a unit", vq(qv("gt", five, ucum, "mg")), ids("Observation", "q4")},
			searchCase{"le with a unit", vq(qv("le", rng{6.5, 7.5}, ucum, "mg")), ids("Observation", "q1", "q4")},
			searchCase{"values are alternatives", vq(qv("", five, ucum, "kg"), qv("", rng{6.5, 7.5}, "", "")), ids("Observation", "q3", "q4")},
		)
	}},

	{name: "Clauses on composite parameters", run: func(e *env) {
		sys, dia := tok("", loinc, "8480-6", ""), tok("", loinc, "8462-4", "")
		mmHg := func(v float64) fhir.IndexEntry { return qtyE("", rng{v - 0.5, v + 0.5}, ucum, "mm[Hg]") }
		e.createIx("Observation", "c1", compE("code-value-quantity", sys, mmHg(120)), compE("code-value-quantity", dia, mmHg(80)))
		e.createIx("Observation", "c2", compE("code-value-quantity", sys, mmHg(150)))
		e.createIx("Observation", "c3", compE("code-value-quantity", dia, mmHg(120)))
		e.createIx("Observation", "c4", compE("code-value-string", tok("", loinc, "X", ""), str("", "positive", "Positive")),
			compE("code-value-date", tok("", loinc, "Y", ""), dateE("", day(2024, 3, 5))))
		e.createIx("Observation", "c5", compE("code-value-reference", tok("", loinc, "Z", ""), ref("", "Patient/1")),
			compE("code-value-uri", tok("", loinc, "Z", ""), uriE("", "urn:x")))
		cvq := func(vs ...fhir.Value) fhir.Query {
			return query("Observation", clause("code-value-quantity", fhir.TypeComposite, "", vs...))
		}
		n := func(prefix string, v float64) fhir.Value { return rv(prefix, rng{v - 0.5, v + 0.5}) }
		e.cases(
			searchCase{"the parts must match within one entry", cvq(parts(sysCode(loinc, "8480-6"), n("", 80))), nil},
			searchCase{"both parts of one entry", cvq(parts(sysCode(loinc, "8480-6"), n("", 120))), ids("Observation", "c1")},
			searchCase{"a part with a prefix", cvq(parts(sysCode(loinc, "8480-6"), n("gt", 100))), ids("Observation", "c1", "c2")},
			searchCase{"a token part with any system", cvq(parts(anySys("8462-4"), n("le", 100))), ids("Observation", "c1")},
			searchCase{"a quantity part with a unit",
				cvq(parts(anySys("8462-4"), fhir.Value{Low: 119.5, High: 120.5, System: ucum, Code: "mm[Hg]"})), ids("Observation", "c3")},
			searchCase{"a quantity part with another unit",
				cvq(parts(anySys("8462-4"), fhir.Value{Low: 119.5, High: 120.5, Code: "kPa"})), nil},
			searchCase{"values are alternatives", cvq(parts(anySys("8480-6"), n("", 150)), parts(anySys("8462-4"), n("", 120))),
				ids("Observation", "c2", "c3")},
			searchCase{"a value with fewer parts than the entries matches nothing", cvq(parts(anySys("8480-6"))), nil},
			searchCase{"a string part",
				query("Observation", clause("code-value-string", fhir.TypeComposite, "", parts(anySys("X"), val("pos")))), ids("Observation", "c4")},
			searchCase{"a date part",
				query("Observation", clause("code-value-date", fhir.TypeComposite, "", parts(anySys("Y"), rv("ge", year(2024))))), ids("Observation", "c4")},
			searchCase{"a date part out of range",
				query("Observation", clause("code-value-date", fhir.TypeComposite, "", parts(anySys("Y"), rv("sa", year(2024))))), nil},
			searchCase{"a reference part",
				query("Observation", clause("code-value-reference", fhir.TypeComposite, "", parts(anySys("Z"), val("Patient/1")))), ids("Observation", "c5")},
			searchCase{"a reference part by bare id",
				query("Observation", clause("code-value-reference", fhir.TypeComposite, "", parts(anySys("Z"), anySys("1")))), ids("Observation", "c5")},
			searchCase{"a uri part",
				query("Observation", clause("code-value-uri", fhir.TypeComposite, "", parts(anySys("Z"), val("urn:x")))), ids("Observation", "c5")},
			searchCase{"a composite and another clause",
				query("Observation", clause("code-value-quantity", fhir.TypeComposite, "", parts(anySys("8480-6"), n("ge", 100))),
					clause("code-value-quantity", fhir.TypeComposite, "", parts(anySys("8462-4"), n("", 80)))), ids("Observation", "c1")},
		)
	}},
}
