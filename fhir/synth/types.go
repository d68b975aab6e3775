package synth

import "encoding/json"

// The structs below hold only the elements the generator writes. Field order
// is the order of the JSON output, which keeps it stable and readable.

type bundle struct {
	ResourceType string  `json:"resourceType"`
	Type         string  `json:"type"`
	Entry        []entry `json:"entry"`
}

type entry struct {
	FullURL  string  `json:"fullUrl"`
	Resource any     `json:"resource"`
	Request  request `json:"request"`
}

type request struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	IfNoneExist string `json:"ifNoneExist,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// cc is a CodeableConcept of one coding, its text the coding's display.
func cc(c coding) concept { return concept{Coding: []coding{c}, Text: c.Display} }

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

func ref(urn string) reference { return reference{Reference: urn} }

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// quantity keeps its value as preformatted decimal text (json.Number), so
// that 13.0 stays 13.0 and precision is what the measurement has.
type quantity struct {
	Value  json.Number `json:"value"`
	Unit   string      `json:"unit"`
	System string      `json:"system"`
	Code   string      `json:"code"`
}

type identifier struct {
	Use    string  `json:"use,omitempty"`
	Type   concept `json:"type,omitzero"`
	System string  `json:"system"`
	Value  string  `json:"value"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix,omitempty"`
}

type contactPoint struct {
	System string `json:"system"`
	Value  string `json:"value"`
	Use    string `json:"use,omitempty"`
}

type address struct {
	Use        string   `json:"use,omitempty"`
	Line       []string `json:"line"`
	City       string   `json:"city"`
	State      string   `json:"state"`
	PostalCode string   `json:"postalCode"`
	Country    string   `json:"country"`
}

type patientCommunication struct {
	Language  concept `json:"language"`
	Preferred bool    `json:"preferred,omitempty"`
}

type patient struct {
	ResourceType  string                 `json:"resourceType"`
	Identifier    []identifier           `json:"identifier"`
	Name          []humanName            `json:"name"`
	Telecom       []contactPoint         `json:"telecom"`
	Gender        string                 `json:"gender"`
	BirthDate     string                 `json:"birthDate"`
	Address       []address              `json:"address"`
	MaritalStatus concept                `json:"maritalStatus"`
	Communication []patientCommunication `json:"communication"`
}

type relatedPerson struct {
	ResourceType string         `json:"resourceType"`
	Active       bool           `json:"active"`
	Patient      reference      `json:"patient"`
	Relationship []concept      `json:"relationship"`
	Name         []humanName    `json:"name"`
	Telecom      []contactPoint `json:"telecom"`
	Gender       string         `json:"gender"`
}

type condition struct {
	ResourceType       string    `json:"resourceType"`
	ClinicalStatus     concept   `json:"clinicalStatus"`
	VerificationStatus concept   `json:"verificationStatus"`
	Category           []concept `json:"category"`
	Code               concept   `json:"code"`
	Subject            reference `json:"subject"`
	Encounter          reference `json:"encounter"`
	OnsetDateTime      string    `json:"onsetDateTime"`
	RecordedDate       string    `json:"recordedDate"`
}

type encounter struct {
	ResourceType    string      `json:"resourceType"`
	Status          string      `json:"status"`
	Class           coding      `json:"class"`
	Type            []concept   `json:"type"`
	Subject         reference   `json:"subject"`
	Period          period      `json:"period"`
	ReasonReference []reference `json:"reasonReference,omitempty"`
}

type component struct {
	Code          concept  `json:"code"`
	ValueQuantity quantity `json:"valueQuantity"`
}

type observation struct {
	ResourceType      string      `json:"resourceType"`
	Status            string      `json:"status"`
	Category          []concept   `json:"category"`
	Code              concept     `json:"code"`
	Subject           reference   `json:"subject"`
	Encounter         reference   `json:"encounter"`
	EffectiveDateTime string      `json:"effectiveDateTime"`
	Issued            string      `json:"issued"`
	ValueQuantity     *quantity   `json:"valueQuantity,omitempty"`
	Component         []component `json:"component,omitempty"`
}

type diagnosticReport struct {
	ResourceType      string      `json:"resourceType"`
	Status            string      `json:"status"`
	Category          []concept   `json:"category"`
	Code              concept     `json:"code"`
	Subject           reference   `json:"subject"`
	Encounter         reference   `json:"encounter"`
	EffectiveDateTime string      `json:"effectiveDateTime"`
	Issued            string      `json:"issued"`
	Result            []reference `json:"result"`
	Conclusion        string      `json:"conclusion"`
	ConclusionCode    []concept   `json:"conclusionCode"`
}

type procedure struct {
	ResourceType    string      `json:"resourceType"`
	Status          string      `json:"status"`
	Category        concept     `json:"category"`
	Code            concept     `json:"code"`
	Subject         reference   `json:"subject"`
	Encounter       reference   `json:"encounter"`
	PerformedPeriod period      `json:"performedPeriod"`
	ReasonReference []reference `json:"reasonReference"`
}

type dosage struct {
	Sequence int     `json:"sequence"`
	Text     string  `json:"text"`
	Route    concept `json:"route"`
}

type medicationRequest struct {
	ResourceType              string      `json:"resourceType"`
	Status                    string      `json:"status"`
	Intent                    string      `json:"intent"`
	MedicationCodeableConcept concept     `json:"medicationCodeableConcept"`
	Subject                   reference   `json:"subject"`
	Encounter                 reference   `json:"encounter"`
	AuthoredOn                string      `json:"authoredOn"`
	Requester                 reference   `json:"requester"`
	ReasonReference           []reference `json:"reasonReference"`
	DosageInstruction         []dosage    `json:"dosageInstruction"`
}

type activityDetail struct {
	Code   concept `json:"code"`
	Status string  `json:"status"`
}

type carePlanActivity struct {
	Detail activityDetail `json:"detail"`
}

type carePlan struct {
	ResourceType string             `json:"resourceType"`
	Status       string             `json:"status"`
	Intent       string             `json:"intent"`
	Category     []concept          `json:"category"`
	Title        string             `json:"title"`
	Subject      reference          `json:"subject"`
	Encounter    reference          `json:"encounter"`
	Period       period             `json:"period"`
	CareTeam     []reference        `json:"careTeam"`
	Addresses    []reference        `json:"addresses"`
	Activity     []carePlanActivity `json:"activity"`
}

type careTeamParticipant struct {
	Role   []concept `json:"role"`
	Member reference `json:"member"`
}

type careTeam struct {
	ResourceType string                `json:"resourceType"`
	Status       string                `json:"status"`
	Name         string                `json:"name"`
	Subject      reference             `json:"subject"`
	Encounter    reference             `json:"encounter"`
	Period       period                `json:"period"`
	Participant  []careTeamParticipant `json:"participant"`
	ReasonCode   []concept             `json:"reasonCode"`
}

type appointmentParticipant struct {
	Actor    reference `json:"actor"`
	Required string    `json:"required"`
	Status   string    `json:"status"`
}

type appointment struct {
	ResourceType    string                   `json:"resourceType"`
	Status          string                   `json:"status"`
	AppointmentType concept                  `json:"appointmentType"`
	ReasonReference []reference              `json:"reasonReference"`
	Description     string                   `json:"description"`
	Start           string                   `json:"start"`
	End             string                   `json:"end"`
	MinutesDuration int                      `json:"minutesDuration"`
	Created         string                   `json:"created"`
	Participant     []appointmentParticipant `json:"participant"`
}

type payload struct {
	ContentString string `json:"contentString"`
}

type communication struct {
	ResourceType string      `json:"resourceType"`
	Status       string      `json:"status"`
	Category     []concept   `json:"category"`
	Subject      reference   `json:"subject"`
	Encounter    reference   `json:"encounter"`
	Sent         string      `json:"sent"`
	Recipient    []reference `json:"recipient"`
	Payload      []payload   `json:"payload"`
}

type attachment struct {
	ContentType string `json:"contentType"`
	Data        string `json:"data"`
	Title       string `json:"title"`
	Creation    string `json:"creation"`
}

type documentContent struct {
	Attachment attachment `json:"attachment"`
}

type documentContext struct {
	Encounter []reference `json:"encounter"`
	Period    period      `json:"period"`
}

type documentReference struct {
	ResourceType string            `json:"resourceType"`
	Status       string            `json:"status"`
	DocStatus    string            `json:"docStatus"`
	Type         concept           `json:"type"`
	Category     []concept         `json:"category"`
	Subject      reference         `json:"subject"`
	Date         string            `json:"date"`
	Author       []reference       `json:"author"`
	Description  string            `json:"description"`
	Content      []documentContent `json:"content"`
	Context      documentContext   `json:"context"`
}
