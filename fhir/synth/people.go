package synth

import (
	"strings"
	"time"
)

// addPatient adds the Patient, created only if no Patient has its MRN, and
// for about one patient in four a caregiver (RelatedPerson).
func (g *gen) addPatient(mrn string, onset time.Time) {
	r := g.r
	g.gender = "female"
	if !g.kind.femaleOnly && r.IntN(2) == 0 {
		g.gender = "male"
	}
	age := g.kind.minAge + r.IntN(g.kind.maxAge-g.kind.minAge+1)
	birth := onset.AddDate(-age, 0, -r.IntN(365))

	given, family := givenName(r, g.gender), familyName(r)
	g.fullName = given + " " + family
	prefix := "Mr."
	if g.gender == "female" {
		prefix = "Ms."
	}
	lang := english
	if r.IntN(8) == 0 {
		lang = spanish
	}
	var carer *relatedPerson
	marital := pick(r, otherMarital)
	if r.IntN(4) == 0 {
		carer = g.caregiver(family)
		if carer.Relationship[0].Coding[0].Code == "SPS" {
			marital = married
		}
	} else if r.IntN(2) == 0 {
		marital = married
	}

	p := &patient{
		ResourceType: "Patient",
		Identifier:   []identifier{{Use: "usual", Type: cc(codeMR), System: MRNSystem, Value: mrn}},
		Name:         []humanName{{Use: "official", Family: family, Given: []string{given}, Prefix: []string{prefix}}},
		Telecom: []contactPoint{
			{System: "phone", Value: phone(r), Use: "home"},
			{System: "email", Value: strings.ToLower(given+"."+family) + "@example.org", Use: "home"},
		},
		Gender:        g.gender,
		BirthDate:     date(birth),
		Address:       []address{homeAddress(r)},
		MaritalStatus: cc(marital),
		Communication: []patientCommunication{{Language: lang, Preferred: true}},
	}
	g.patient = newURN(r)
	g.entries = append(g.entries, entry{
		FullURL:  g.patient,
		Resource: p,
		Request:  request{Method: "POST", URL: "Patient", IfNoneExist: "identifier=" + MRNSystem + "|" + mrn},
	})
	if carer != nil {
		carer.Patient = ref(g.patient)
		g.add("RelatedPerson", carer)
	}
}

// caregiver is a spouse, child, sibling or friend who helps with care.
// Family members share the patient's family name.
func (g *gen) caregiver(family string) *relatedPerson {
	r := g.r
	c := pick(r, caregivers)
	gender := c.gender
	if gender == "" {
		gender = pick(r, []string{"female", "male"})
	}
	if c.code.Code == "FRND" {
		family = familyName(r)
	}
	return &relatedPerson{
		ResourceType: "RelatedPerson",
		Active:       true,
		Relationship: []concept{cc(c.code)},
		Name:         []humanName{{Use: "official", Family: family, Given: []string{givenName(r, gender)}}},
		Telecom:      []contactPoint{{System: "phone", Value: phone(r), Use: "mobile"}},
		Gender:       gender,
	}
}
