package synth

import (
	"encoding/base64"
	"strings"
	"time"
)

// addAppointments books one or two follow-up visits in the weeks after now.
func (g *gen) addAppointments() {
	r := g.r
	created := g.visits[len(g.visits)-1].end
	day := 3 + r.IntN(25)
	for range 1 + r.IntN(2) {
		y, m, d := g.now.AddDate(0, 0, day).Date()
		start := time.Date(y, m, d, 8, 0, 0, 0, g.now.Location()).Add(minutes(30 * r.IntN(16)))
		g.add("Appointment", &appointment{
			ResourceType:    "Appointment",
			Status:          "booked",
			AppointmentType: cc(followUp),
			ReasonReference: []reference{ref(g.condition)},
			Description:     "Oncology follow-up visit",
			Start:           dateTime(start),
			End:             dateTime(start.Add(minutes(30))),
			MinutesDuration: 30,
			Created:         dateTime(created),
			Participant: []appointmentParticipant{
				{Actor: reference{Reference: g.patient, Display: g.fullName}, Required: "required", Status: "accepted"},
				{Actor: reference{Display: g.oncologist}, Required: "required", Status: "accepted"},
			},
		})
		day += 14 + r.IntN(14)
	}
}

// addCommunications sends the patient a portal message after about half
// of the visits, and always after the last.
func (g *gen) addCommunications() {
	r := g.r
	for j := range g.visits {
		v := &g.visits[j]
		if j < len(g.visits)-1 && r.IntN(2) == 0 {
			continue
		}
		text := messages[0]
		if r.IntN(3) == 0 {
			text = pick(r, messages[1:])
		}
		g.add("Communication", &communication{
			ResourceType: "Communication",
			Status:       "completed",
			Category:     []concept{notification},
			Subject:      ref(g.patient),
			Encounter:    ref(v.urn),
			Sent:         dateTime(v.end.Add(minutes(60 + r.IntN(18*60)))),
			Recipient:    []reference{ref(g.patient)},
			Payload:      []payload{{ContentString: text}},
		})
	}
}

// addNotes adds a short progress note for every visit.
func (g *gen) addNotes() {
	for j := range g.visits {
		v := &g.visits[j]
		note := g.note(v)
		g.add("DocumentReference", &documentReference{
			ResourceType: "DocumentReference",
			Status:       "current",
			DocStatus:    "final",
			Type:         cc(progressNote),
			Category:     []concept{cc(clinicalNote)},
			Subject:      ref(g.patient),
			Date:         dateTime(v.end),
			Author:       []reference{{Display: g.oncologist}},
			Description:  "Oncology visit note",
			Content: []documentContent{{Attachment: attachment{
				ContentType: "text/plain",
				Data:        base64.StdEncoding.EncodeToString([]byte(note)),
				Title:       "Oncology visit note",
				Creation:    dateTime(v.end),
			}}},
			Context: documentContext{
				Encounter: []reference{ref(v.urn)},
				Period:    period{Start: dateTime(v.start), End: dateTime(v.end)},
			},
		})
	}
}

func (g *gen) note(v *visit) string {
	var b strings.Builder
	b.Grow(400)
	b.WriteString("Oncology visit note\nDiagnosis: ")
	b.WriteString(g.kind.condition.Display)
	b.WriteString("\nVitals: weight ")
	b.WriteString(v.weight + " kg, heart rate " + v.heartRate + " /min, blood pressure " + v.bp + " mm[Hg].")
	b.WriteString("\nLabs: hemoglobin " + v.hemoglobin + " g/dL, white cells " + v.leukocytes + " 10*3/uL, ")
	b.WriteString(g.kind.marker.name + " " + v.marker + " " + g.kind.marker.unit + ".")
	b.WriteString("\nPlan: ")
	switch {
	case v.first:
		b.WriteString(g.kind.biopsy.Display[:strings.Index(g.kind.biopsy.Display, " (")] +
			" taken today; pathology to follow. Treatment options to be discussed at tumour board.")
	case v.surgery:
		b.WriteString("Surgery completed without complication. Review wound and pathology at next visit.")
	default:
		b.WriteString("Tolerating treatment. Continue current regimen and review blood counts before next cycle.")
	}
	b.WriteString("\n")
	return b.String()
}
