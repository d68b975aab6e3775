package scope

import (
	"reflect"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"patient/Observation.rs", "Read and search your test results, vital signs and other observations"},
		{"patient/Observation.read", "Read and search your test results, vital signs and other observations"},
		{"patient/*.rs", "Read and search all of your health record"},
		{"patient/*.cruds", "Read, search, create, change and delete all of your health record"},
		{"patient/MedicationRequest.write", "Create, change and delete your prescriptions and medication orders"},
		{"patient/Condition.d", "Delete your diagnoses and health problems"},
		{"patient/Practitioner.r", "Read details of doctors, nurses and other care providers"},
		{"user/Observation.rs", "Read and search test results, vital signs and other observations in the records you can see"},
		{"user/*.rs", "Read and search all of the records you can see"},
		{"system/*.rs", "Read and search any record on this server"},
		{"system/Patient.s", "Search personal details (name, birth date and contact information) in any record on this server"},
		{"patient/MolecularSequence.rs", "Read and search your molecular sequence records"},
		{"patient/Observation.rs?" + labQuery,
			"Read and search your test results, vital signs and other observations, but only laboratory results"},
		{"patient/Observation.rs?category=laboratory,vital-signs",
			"Read and search your test results, vital signs and other observations, but only laboratory results and vital signs"},
		{"patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
			"Read and search your diagnoses and health problems, but only problem list entries"},
		{"patient/Observation.rs?code=http%3A%2F%2Floinc.org%7C21908-9&date=ge2024",
			"Read and search your test results, vital signs and other observations, but only those matching code=http://loinc.org|21908-9 and date=ge2024"},
		{"patient/Observation.rs?category=http://example.org|laboratory",
			"Read and search your test results, vital signs and other observations, but only those matching category=http://example.org|laboratory"},
		{"patient/Observation.rs?note=a%0Ab",
			"Read and search your test results, vital signs and other observations, but only those matching note=a%0Ab"},
		{"offline_access", "Keep access after you close the app, until you revoke it"},
		{"openid", "Know who you are (your name and record identity)"},
		{"fhirUser", "Know who you are (your name and record identity)"},
		{"launch/patient", "Know which patient record you chose"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := Describe(s); got != tt.want {
				t.Fatalf("Describe(%q) =\n %q, want\n %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDescribeInvalidScope(t *testing.T) {
	for _, s := range []Scope{{}, {Name: "email"}, {Level: "patient", Type: "Observation"}} {
		if got := Describe(s); got != "" {
			t.Errorf("Describe(%+v) = %q, want \"\"", s, got)
		}
	}
}

func TestDescribeEveryKnownScope(t *testing.T) {
	for name := range nonResource {
		if nonResourceText[name] == "" {
			t.Errorf("%s has no description", name)
		}
	}
}

func TestDescribeAll(t *testing.T) {
	got := DescribeAll(strings.Fields("openid fhirUser email launch/patient patient/*.rs offline_access"))
	want := []string{
		"Know who you are (your name and record identity)",
		"Know which patient record you chose",
		"Read and search all of your health record",
		"Keep access after you close the app, until you revoke it",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DescribeAll = %q, want %q", got, want)
	}
}

func TestSplitCamel(t *testing.T) {
	tests := map[string]string{
		"MolecularSequence":  "molecular sequence",
		"DeviceUseStatement": "device use statement",
		"HIVTestResult":      "HIV test result",
		"Basic":              "basic",
		"X":                  "x",
		"VisionPrescription": "vision prescription",
		"ABC":                "ABC",
	}
	for in, want := range tests {
		if got := strings.Join(splitCamel(in), " "); got != want {
			t.Errorf("splitCamel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCategoryCodesAreUnambiguous(t *testing.T) {
	// A bare code (category=laboratory) is looked up in every system, so no
	// code may mean two things.
	seen := map[string]string{}
	for system, codes := range categories {
		for code := range codes {
			if other, ok := seen[code]; ok {
				t.Errorf("code %q is in %s and %s", code, system, other)
			}
			seen[code] = system
		}
	}
}
