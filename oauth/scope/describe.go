package scope

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Describe says in one plain sentence, without a final full stop, what s
// lets an app do, for the authorization page and the app-management page.
//
// Resource scopes read "<verbs> <what>[, but only <constraint>]": the verbs
// are read, search, create, change and delete; what is a friendly name of
// the resource type ("your test results, vital signs and other
// observations"), "all of your health record" for patient/*, and for user
// and system levels it names "the records you can see" or "any record on
// this server". A granular query is put in words when it is a common
// category ("only laboratory results") and shown otherwise. A scope Parse
// would not return describes as "".
func Describe(s Scope) string {
	if !s.IsResource() {
		return nonResourceText[s.Name]
	}
	if s.Level == "" || s.Type == "" || s.Ops == "" {
		return ""
	}
	text := capitalize(verbs(s.Ops)) + " " + object(s.Level, s.Type)
	if s.Query != "" {
		text += ", but only " + constraint(s.Query)
	}
	return text
}

// DescribeAll describes the scopes of a list, each sentence once and in
// order (openid and fhirUser share one), skipping tokens that do not parse.
func DescribeAll(scopes []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, tok := range scopes {
		s, err := Parse(tok)
		if err != nil {
			continue
		}
		if d := Describe(s); d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

const whoYouAre = "Know who you are (your name and record identity)"

var nonResourceText = map[string]string{
	OpenID:          whoYouAre,
	FHIRUser:        whoYouAre,
	Profile:         "See your name and basic profile details",
	Launch:          "Open from your patient portal with your record already chosen",
	LaunchPatient:   "Know which patient record you chose",
	LaunchEncounter: "Know which visit you chose",
	OfflineAccess:   "Keep access after you close the app, until you revoke it",
	OnlineAccess:    "Keep access while you are signed in and using the app",
}

// verbs names the ops in the order people say them.
func verbs(ops string) string {
	var vs []string
	for _, v := range []struct {
		op   byte
		verb string
	}{{'r', "read"}, {'s', "search"}, {'c', "create"}, {'u', "change"}, {'d', "delete"}} {
		if strings.IndexByte(ops, v.op) >= 0 {
			vs = append(vs, v.verb)
		}
	}
	return joinAnd(vs)
}

func object(level, typ string) string {
	if typ == "*" {
		switch level {
		case Patient:
			return "all of your health record"
		case User:
			return "all of the records you can see"
		default:
			return "any record on this server"
		}
	}
	n := nameOf(typ)
	switch level {
	case Patient:
		if n.own {
			return "your " + n.phrase
		}
		return n.phrase
	case User:
		return n.phrase + " in the records you can see"
	default:
		return n.phrase + " in any record on this server"
	}
}

// friendly is how a resource type is named to a patient. own says whether
// "your" fits before it (your diagnoses; not your details of hospitals).
type friendly struct {
	phrase string
	own    bool
}

var friendlyNames = map[string]friendly{
	"AdverseEvent":             {"side effects and other adverse events", true},
	"AllergyIntolerance":       {"allergies and intolerances", true},
	"Appointment":              {"appointments", true},
	"AuditEvent":               {"records of who looked at or changed health information", false},
	"Binary":                   {"files and attachments", true},
	"CarePlan":                 {"care and treatment plans", true},
	"CareTeam":                 {"care team members", true},
	"Claim":                    {"insurance claims", true},
	"Communication":            {"messages with the care team", true},
	"Condition":                {"diagnoses and health problems", true},
	"Consent":                  {"consents and sharing choices", true},
	"Coverage":                 {"insurance coverage", true},
	"Device":                   {"medical devices", true},
	"DiagnosticReport":         {"lab, pathology and imaging reports", true},
	"DocumentReference":        {"documents and clinical notes", true},
	"Encounter":                {"visits and hospital stays", true},
	"ExplanationOfBenefit":     {"insurance claims and payment statements", true},
	"FamilyMemberHistory":      {"family health history", true},
	"Goal":                     {"care goals", true},
	"ImagingStudy":             {"medical images (such as CT and MRI scans)", true},
	"Immunization":             {"vaccinations", true},
	"Location":                 {"details of clinics, hospitals and other places of care", false},
	"Medication":               {"details of medicines", false},
	"MedicationAdministration": {"records of medicines given (such as chemotherapy infusions)", true},
	"MedicationRequest":        {"prescriptions and medication orders", true},
	"MedicationStatement":      {"medication history", true},
	"NutritionOrder":           {"diet and nutrition orders", true},
	"Observation":              {"test results, vital signs and other observations", true},
	"Organization":             {"details of hospitals, clinics and other organizations", false},
	"Patient":                  {"personal details (name, birth date and contact information)", true},
	"Practitioner":             {"details of doctors, nurses and other care providers", false},
	"PractitionerRole":         {"roles and specialties of care providers", false},
	"Procedure":                {"procedures (such as surgeries and radiation treatments)", true},
	"Provenance":               {"information about where health records came from", false},
	"Questionnaire":            {"questionnaires", false},
	"QuestionnaireResponse":    {"answers to questionnaires", true},
	"RelatedPerson":            {"caregivers and family contacts", true},
	"ResearchStudy":            {"details of clinical trials", false},
	"ResearchSubject":          {"clinical trial enrollments", true},
	"ServiceRequest":           {"orders and referrals", true},
	"Specimen":                 {"samples (such as biopsies and blood draws)", true},
	"Task":                     {"tasks and to-dos", true},
}

// nameOf returns the friendly name of typ, or its CamelCase name split into
// words followed by "records" ("MolecularSequence" → "molecular sequence
// records").
func nameOf(typ string) friendly {
	if n, ok := friendlyNames[typ]; ok {
		return n
	}
	return friendly{strings.Join(splitCamel(typ), " ") + " records", true}
}

// splitCamel splits a CamelCase name into lower-case words, keeping runs of
// capitals (acronyms) as they are: "HIVTestResult" → "HIV", "test", "result".
func splitCamel(s string) []string {
	var words []string
	start := 0
	upper := func(i int) bool { return 'A' <= s[i] && s[i] <= 'Z' }
	for i := 1; i <= len(s); i++ {
		boundary := i == len(s) ||
			upper(i) && !upper(i-1) || // aB
			upper(i) && i+1 < len(s) && upper(i-1) && !upper(i+1) // ABc: the B starts a word
		if !boundary {
			continue
		}
		w := s[start:i]
		if len(w) == 1 || !upper(start+1) {
			w = strings.ToLower(w)
		}
		words = append(words, w)
		start = i
	}
	return words
}

// constraint puts a granular query in words: common category codes by name,
// anything else as "those matching name=value and name=value".
func constraint(q string) string {
	ps := params(q)
	if len(ps) == 1 && ps[0].name == "category" {
		if names, ok := categoryNames(ps[0].value); ok {
			return joinAnd(names)
		}
	}
	raw := strings.Split(q, "&")
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.name + "=" + p.value
		if strings.ContainsFunc(parts[i], unicode.IsControl) || !utf8.ValidString(parts[i]) {
			parts[i] = raw[i] // escapes stand for something unprintable: show them
		}
	}
	return "those matching " + strings.Join(parts, " and ")
}

// Category codes patients meet in US Core and oncology portals, by system.
var categories = map[string]map[string]string{
	"http://terminology.hl7.org/CodeSystem/observation-category": {
		"laboratory": "laboratory results", "vital-signs": "vital signs",
		"imaging": "imaging results", "social-history": "social history",
		"survey": "survey answers", "exam": "exam findings",
		"therapy": "therapy results", "activity": "activity measurements",
		"procedure": "procedure results",
	},
	"http://terminology.hl7.org/CodeSystem/condition-category": {
		"problem-list-item": "problem list entries", "encounter-diagnosis": "visit diagnoses",
	},
	"http://hl7.org/fhir/us/core/CodeSystem/condition-category": {
		"health-concern": "health concerns",
	},
	"http://hl7.org/fhir/us/core/CodeSystem/us-core-category": {
		"sdoh": "social needs (such as housing and food)",
	},
	"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category": {
		"clinical-note": "clinical notes",
	},
	"http://terminology.hl7.org/CodeSystem/v2-0074": {
		"LAB": "laboratory reports", "RAD": "radiology reports",
		"PAT": "pathology reports", "SP": "surgical pathology reports",
	},
	"http://loinc.org": {
		"LP29684-5": "radiology reports", "LP7839-6": "pathology reports",
	},
}

// categoryNames names every value of a category search (a,b,c; each
// system|code or a bare code), or reports false if one is not a known code.
func categoryNames(value string) ([]string, bool) {
	var names []string
	for _, v := range strings.Split(value, ",") {
		system, code, hasSystem := strings.Cut(v, "|")
		var name string
		if hasSystem {
			name = categories[system][code]
		} else {
			code = system
			for _, codes := range categories {
				if n, ok := codes[code]; ok {
					name = n
					break
				}
			}
		}
		if name == "" {
			return nil, false
		}
		names = append(names, name)
	}
	return names, true
}

// joinAnd writes "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
