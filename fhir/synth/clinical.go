package synth

import "time"

var (
	labCategory   = []concept{catLaboratory}
	vitalCategory = []concept{catVitalSigns}
)

func (g *gen) addEncounter(v *visit) {
	typ := encounterFollow
	if v.first || v.surgery {
		typ = encounterFirst
	}
	v.urn = g.add("Encounter", &encounter{
		ResourceType:    "Encounter",
		Status:          "finished",
		Class:           classAmbulatory,
		Type:            []concept{cc(typ)},
		Subject:         ref(g.patient),
		Period:          period{Start: dateTime(v.start), End: dateTime(v.end)},
		ReasonReference: []reference{ref(g.condition)},
	})
}

// addCondition adds the cancer diagnosis under the urn reserved for it.
func (g *gen) addCondition(onset time.Time) {
	first := &g.visits[0]
	g.entries = append(g.entries, entry{
		FullURL: g.condition,
		Resource: &condition{
			ResourceType:       "Condition",
			ClinicalStatus:     cc(coding{condClinical, "active", "Active"}),
			VerificationStatus: cc(coding{condVerStatus, "confirmed", "Confirmed"}),
			Category:           []concept{cc(coding{condCategory, "encounter-diagnosis", "Encounter Diagnosis"})},
			Code:               cc(g.kind.condition),
			Subject:            ref(g.patient),
			Encounter:          ref(first.urn),
			OnsetDateTime:      dateTime(onset),
			RecordedDate:       dateTime(first.end),
		},
		Request: request{Method: "POST", URL: "Condition"},
	})
}

func qty(m measure, v float64) quantity {
	return quantity{Value: decimal(v, m.places), Unit: m.unit, System: ucum, Code: m.unit}
}

// observe adds one Observation with a quantity and returns its urn and the
// value's text.
func (g *gen) observe(v *visit, cat []concept, m measure, val float64, at, issued time.Time) (string, string) {
	q := qty(m, val)
	urn := g.add("Observation", &observation{
		ResourceType:      "Observation",
		Status:            "final",
		Category:          cat,
		Code:              cc(m.code),
		Subject:           ref(g.patient),
		Encounter:         ref(v.urn),
		EffectiveDateTime: dateTime(at),
		Issued:            dateTime(issued),
		ValueQuantity:     &q,
	})
	return urn, string(q.Value)
}

// addObservations adds the vital signs, the blood counts and chemistry, and
// the tumour marker measured at a visit. Treatment lowers the counts and
// the marker, and slowly the weight.
func (g *gen) addObservations(v *visit) {
	r := g.r
	female := g.gender == "female"
	if g.height == 0 {
		if female {
			g.height = normal(r, 163, 7, 145, 185)
		} else {
			g.height = normal(r, 176, 7, 155, 200)
		}
		h := g.height / 100
		g.weight = normal(r, 26, 4, 18.5, 38) * h * h
	}
	if v.onTherapy {
		g.weight *= 1 - normal(r, 0.01, 0.01, -0.01, 0.04)
	}

	at := v.start.Add(minutes(5 + r.IntN(10)))
	_, v.weight = g.observe(v, vitalCategory, bodyWeight, g.weight, at, at)
	g.observe(v, vitalCategory, bodyHeight, g.height+normal(r, 0, 0.3, -1, 1), at, at)
	_, v.heartRate = g.observe(v, vitalCategory, heartRate, normal(r, 76, 9, 52, 118), at, at)
	sys := normal(r, 124, 12, 95, 172)
	dia := normal(r, 78, 8, 55, min(105, sys-25))
	s, d := qty(systolic, sys), qty(diastolic, dia)
	v.bp = string(s.Value) + "/" + string(d.Value)
	g.add("Observation", &observation{
		ResourceType:      "Observation",
		Status:            "final",
		Category:          vitalCategory,
		Code:              cc(bpPanel),
		Subject:           ref(g.patient),
		Encounter:         ref(v.urn),
		EffectiveDateTime: dateTime(at),
		Issued:            dateTime(at),
		Component: []component{
			{Code: cc(systolic.code), ValueQuantity: s},
			{Code: cc(diastolic.code), ValueQuantity: d},
		},
	})

	drawn := at.Add(minutes(10 + r.IntN(20)))
	issued := drawn.Add(minutes(60 + r.IntN(120)))
	hgb, wbc, plt := 14.6, 6.8, 260.0
	crea := 1.02
	if female {
		hgb, crea = 13.3, 0.82
	}
	if v.onTherapy {
		hgb, wbc, plt, crea = hgb-1.6, 3.9, 185, crea+0.05
	}
	var urn string
	urn, v.hemoglobin = g.observe(v, labCategory, hemoglobin, normal(r, hgb, 0.9, 7.5, 17.5), drawn, issued)
	v.labs = append(v.labs, urn)
	urn, v.leukocytes = g.observe(v, labCategory, leukocytes, normal(r, wbc, 1.4, 1.2, 13), drawn, issued)
	v.labs = append(v.labs, urn)
	urn, _ = g.observe(v, labCategory, platelets, normal(r, plt, 55, 55, 460), drawn, issued)
	v.labs = append(v.labs, urn)
	urn, _ = g.observe(v, labCategory, creatinine, normal(r, crea, 0.15, 0.45, 1.9), drawn, issued)
	v.labs = append(v.labs, urn)

	k := g.kind
	mean, sd := k.markerDx[0], k.markerDx[1]
	switch {
	case v.surgery:
		mean, sd = (k.markerDx[0]+k.markerTx[0])/2, k.markerTx[1]
	case v.onTherapy:
		mean, sd = k.markerTx[0], k.markerTx[1]
	}
	urn, v.marker = g.observe(v, labCategory, k.marker, normal(r, mean, sd, 0.5, 250), drawn, issued)
	v.labs = append(v.labs, urn)
}

// addPathology adds the report on the diagnostic biopsy. Its results are
// the laboratory Observations of the diagnostic visit.
func (g *gen) addPathology() {
	first := &g.visits[0]
	taken := first.start.Add(minutes(20))
	g.add("DiagnosticReport", &diagnosticReport{
		ResourceType:      "DiagnosticReport",
		Status:            "final",
		Category:          []concept{catPathology},
		Code:              cc(pathologyReport),
		Subject:           ref(g.patient),
		Encounter:         ref(first.urn),
		EffectiveDateTime: dateTime(taken),
		Issued:            dateTime(taken.Add(time.Duration(40+g.r.IntN(60)) * time.Hour)),
		Result:            refs(first.labs),
		Conclusion:        pick(g.r, g.kind.pathology),
		ConclusionCode:    []concept{cc(g.kind.condition)},
	})
}

func refs(urns []string) []reference {
	out := make([]reference, len(urns))
	for i, u := range urns {
		out[i] = ref(u)
	}
	return out
}
