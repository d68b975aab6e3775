package synth

import "time"

// addProcedures adds the diagnostic procedures of the first visit (an
// endoscopy where the cancer calls for one, then the biopsy) and the
// surgery of the second.
func (g *gen) addProcedures() {
	first, second := &g.visits[0], &g.visits[1]
	at := first.start.Add(minutes(10))
	if g.kind.scope != nil {
		end := at.Add(minutes(25 + g.r.IntN(20)))
		g.addProcedure(first, diagnosticProcedure, *g.kind.scope, at, end)
		at = end
	}
	g.addProcedure(first, diagnosticProcedure, g.kind.biopsy, at, at.Add(minutes(10+g.r.IntN(20))))
	start := second.start.Add(minutes(15))
	g.addProcedure(second, surgicalProcedure, g.kind.surgery, start, second.end.Add(-minutes(15)))
}

func (g *gen) addProcedure(v *visit, category, code coding, start, end time.Time) {
	g.add("Procedure", &procedure{
		ResourceType:    "Procedure",
		Status:          "completed",
		Category:        cc(category),
		Code:            cc(code),
		Subject:         ref(g.patient),
		Encounter:       ref(v.urn),
		PerformedPeriod: period{Start: dateTime(start), End: dateTime(end)},
		ReasonReference: []reference{ref(g.condition)},
	})
}

// addMedications orders first-line chemotherapy at the first treatment
// visit and, when there were at least four visits, the next line at the
// last one; the first line is then completed.
func (g *gen) addMedications() {
	secondLine := len(g.visits) >= 4
	status := "active"
	if secondLine {
		status = "completed"
	}
	g.order(&g.visits[2], g.kind.firstLine, status)
	if secondLine {
		g.order(&g.visits[len(g.visits)-1], g.kind.secondLine, "active")
	}
}

func (g *gen) order(v *visit, drugs []drug, status string) {
	at := v.start.Add(minutes(20 + g.r.IntN(20)))
	for _, d := range drugs {
		g.add("MedicationRequest", &medicationRequest{
			ResourceType:              "MedicationRequest",
			Status:                    status,
			Intent:                    "order",
			MedicationCodeableConcept: cc(d.rx),
			Subject:                   ref(g.patient),
			Encounter:                 ref(v.urn),
			AuthoredOn:                dateTime(at),
			Requester:                 reference{Display: g.oncologist},
			ReasonReference:           []reference{ref(g.condition)},
			DosageInstruction:         []dosage{{Sequence: 1, Text: d.dose, Route: cc(intravenous)}},
		})
	}
}

// addCareTeam adds the oncologist, the nurse (display-only members: no
// Practitioner is in the Bundle) and the patient.
func (g *gen) addCareTeam(onset time.Time) string {
	return g.add("CareTeam", &careTeam{
		ResourceType: "CareTeam",
		Status:       "active",
		Name:         "Oncology care team",
		Subject:      ref(g.patient),
		Encounter:    ref(g.visits[0].urn),
		Period:       period{Start: dateTime(onset)},
		Participant: []careTeamParticipant{
			{Role: []concept{cc(roleOncologist)}, Member: reference{Display: g.oncologist}},
			{Role: []concept{cc(roleNurse)}, Member: reference{Display: g.nurse}},
			{Role: []concept{cc(rolePatient)}, Member: reference{Reference: g.patient, Display: g.fullName}},
		},
		ReasonCode: []concept{cc(g.kind.condition)},
	})
}

func (g *gen) addCarePlan(onset time.Time, team string) {
	g.add("CarePlan", &carePlan{
		ResourceType: "CarePlan",
		Status:       "active",
		Intent:       "plan",
		Category:     []concept{cc(carePlanGeneric), cc(carePlanCancer)},
		Title:        "Cancer care plan",
		Subject:      ref(g.patient),
		Encounter:    ref(g.visits[0].urn),
		Period:       period{Start: dateTime(onset)},
		CareTeam:     []reference{ref(team)},
		Addresses:    []reference{ref(g.condition)},
		Activity: []carePlanActivity{
			{Detail: activityDetail{Code: cc(g.kind.surgery), Status: "completed"}},
			{Detail: activityDetail{Code: cc(chemotherapy), Status: "in-progress"}},
		},
	})
}
