package conformance

import (
	"slices"
	"testing"
)

func TestSearchParameters(t *testing.T) {
	defs, err := SearchParameters()
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1377 {
		t.Errorf("got %d search parameters, want 1377", len(defs))
	}
	byURL := map[string]SearchParameterDef{}
	for _, d := range defs {
		if d.URL == "" || d.Code == "" || len(d.Base) == 0 || d.Type == "" {
			t.Fatalf("incomplete definition %+v", d)
		}
		byURL[d.URL] = d
	}
	for _, d := range defs {
		for _, c := range d.Component {
			if _, ok := byURL[c.Definition]; !ok {
				t.Errorf("%s: component %s is not defined", d.URL, c.Definition)
			}
		}
	}

	birth := byURL["http://hl7.org/fhir/SearchParameter/individual-birthdate"]
	if birth.Code != "birthdate" || birth.Type != "date" || !slices.Contains(birth.Base, "Patient") ||
		birth.Expression != "Patient.birthDate | Person.birthDate | RelatedPerson.birthDate" {
		t.Errorf("birthdate = %+v", birth)
	}
	if got := birth.Documentation("Patient"); got != "The patient's date of birth" {
		t.Errorf("birthdate documentation for Patient = %q", got)
	}
	bp := byURL["http://hl7.org/fhir/SearchParameter/Observation-code-value-quantity"]
	if bp.Type != "composite" || len(bp.Component) != 2 || bp.Component[1].Expression != "value.as(Quantity)" {
		t.Errorf("code-value-quantity = %+v", bp)
	}
	subj := byURL["http://hl7.org/fhir/SearchParameter/Observation-subject"]
	if !slices.Contains(subj.Target, "Patient") {
		t.Errorf("Observation subject targets = %v", subj.Target)
	}
	if _, ok := byURL["http://hl7.org/fhir/SearchParameter/DeviceDefinition-classification"]; ok {
		t.Error("the 5.0.0 draft DeviceDefinition-classification should be left out")
	}
}

func TestPatientCompartment(t *testing.T) {
	c := PatientCompartment()
	if got := c["Observation"]; !slices.Equal(got, []string{"subject", "performer"}) {
		t.Errorf("Observation = %v", got)
	}
	if _, ok := c["Organization"]; ok {
		t.Error("Organization is never in a patient's compartment")
	}
	c["Observation"][0] = "changed"
	if PatientCompartment()["Observation"][0] != "subject" {
		t.Error("PatientCompartment shares its slices")
	}
}
