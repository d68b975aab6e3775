package audit

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// The plain words of the access report, and the names it shows.

// roleWords says the first role it knows in plain words.
func roleWords(roles []string) string {
	for _, r := range roles {
		switch r {
		case "patient":
			return "patient"
		case "proxy":
			return "caregiver"
		case "oncologist", "nurse", "pharmacist", "billing", "auditor":
			return r
		case "social-worker":
			return "social worker"
		case "front-desk":
			return "front desk"
		case "admin":
			return "administrator"
		}
	}
	if len(roles) > 0 {
		return "staff"
	}
	return ""
}

// readLast reads a resource ("Type/id"): its current version, or the last
// one before it was deleted; nil when there is none.
func readLast(ctx context.Context, store fhir.Store, ref string) (*fhir.Resource, error) {
	typ, id, _ := strings.Cut(ref, "/")
	res, err := store.Read(ctx, typ, id)
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if res.Deleted && res.Version > 1 {
		if res, err = store.VRead(ctx, typ, id, res.Version-1); errors.Is(err, fhir.ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
	}
	if res.Deleted || len(res.JSON) == 0 {
		return nil, nil
	}
	return res, nil
}

// parts names what of the record an event's data entities are: "test
// results and observations" when they are all Observations, "record"
// when they are of several kinds, of a kind without a plain name, or
// when there are none.
func (r *reporter) parts(ev *reportEvent) string {
	part := ""
	for _, e := range ev.Entity {
		if e.What == nil || e.Role == nil || e.Role.Code != "4" || e.Role.System != SystemObjectRole {
			continue
		}
		typ, _, _ := strings.Cut(e.What.Reference, "/")
		p, ok := partNames[typ]
		if !ok || part != "" && p != part {
			return "record"
		}
		part = p
	}
	if part == "" {
		return "record"
	}
	return part
}

var partNames = map[string]string{
	"Patient":                  "personal details",
	"Observation":              "test results and observations",
	"DiagnosticReport":         "reports",
	"Condition":                "conditions",
	"MedicationRequest":        "medicines",
	"MedicationStatement":      "medicines",
	"MedicationAdministration": "medicines",
	"MedicationDispense":       "medicines",
	"AllergyIntolerance":       "allergies",
	"Immunization":             "vaccinations",
	"Procedure":                "procedures",
	"Encounter":                "visits",
	"Appointment":              "appointments",
	"CarePlan":                 "care plans",
	"DocumentReference":        "documents",
	"ImagingStudy":             "scans",
	"Consent":                  "sharing choices",
	"RelatedPerson":            "caregivers",
}

// what says what happened, in plain words.
func what(k Kind, outcome, part string) string {
	switch {
	case outcome == "8":
		return "could not reach your record because of a system fault"
	case outcome != "" && outcome != "0":
		return "was refused access to your record"
	}
	switch k {
	case KindTokenIssued:
		return "let an app use your record"
	case KindEverything, KindExport:
		return "downloaded your whole record"
	case KindSearchType, KindSearchSystem:
		return "searched your " + part
	case KindCreate:
		return "added to your " + part
	case KindUpdate, KindPatch:
		return "changed your " + part
	case KindDelete:
		return "deleted from your " + part
	case KindOperation:
		return "used your record"
	}
	return "looked at your " + part
}

// why says the purposes of use of an event in plain words; emergency is
// true for break-glass (BTG). Codes it has no words for are left out.
func why(purposes []reportConcept) (text string, emergency bool) {
	var words []string
	for _, c := range purposes {
		for _, cd := range c.Coding {
			w, ok := purposeWords[cd.Code]
			if !ok || slices.Contains(words, w) {
				continue
			}
			emergency = emergency || cd.Code == "BTG"
			words = append(words, w)
		}
	}
	return strings.Join(words, ", "), emergency
}

// purposeWords are the v3 PurposeOfUse codes (in v3-ActReason) in plain
// words.
var purposeWords = map[string]string{
	"BTG":      "emergency access",
	"ETREAT":   "emergency treatment",
	"TREAT":    "your care",
	"HPAYMT":   "payment",
	"HOPERAT":  "running the clinic",
	"PATRQT":   "at your request",
	"FAMRQT":   "at your family's request",
	"PWATRNY":  "power of attorney",
	"HRESCH":   "research",
	"CLINTRCH": "clinical trial research",
	"PUBHLTH":  "public health",
	"HLEGAL":   "legal reasons",
	"COC":      "coordinating your care",
	"CAREMGT":  "managing your care",
}

// StoreNames reads people's names from their resources in the store. It
// knows no app and no account: ClientName and AccountUser answer "".
type StoreNames struct{ Store fhir.Store }

var _ Names = StoreNames{}

// PersonName is the name of a Patient, Practitioner, RelatedPerson or
// Person (its current version, or the last before its deletion): its
// usual or official HumanName, else the first one that is not old, as
// its text or as prefix, given and family names ("Dr. Ada Okafor").
func (n StoreNames) PersonName(ctx context.Context, ref string) (string, error) {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok || !fhir.ValidID(id) || (typ != "Patient" && typ != "Practitioner" && typ != "RelatedPerson" && typ != "Person") {
		return "", nil
	}
	res, err := readLast(ctx, n.Store, ref)
	if err != nil || res == nil {
		return "", err
	}
	var doc struct {
		Name []humanName `json:"name"`
	}
	if json.Unmarshal(res.JSON, &doc) != nil {
		return "", nil
	}
	return displayName(doc.Name), nil
}

// ClientName answers "": the store holds no apps.
func (StoreNames) ClientName(context.Context, string) (string, error) { return "", nil }

// AccountUser answers "": the store holds no accounts.
func (StoreNames) AccountUser(context.Context, string) (string, error) { return "", nil }

type humanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix"`
	Suffix []string `json:"suffix"`
}

func (h humanName) String() string {
	if t := strings.TrimSpace(h.Text); t != "" {
		return t
	}
	parts := append(append(append([]string{}, h.Prefix...), h.Given...), h.Family)
	parts = append(parts, h.Suffix...)
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// displayName picks the name to show among a person's names.
func displayName(names []humanName) string {
	for _, use := range []string{"usual", "official"} {
		for _, h := range names {
			if s := h.String(); h.Use == use && s != "" {
				return s
			}
		}
	}
	for _, h := range names {
		if s := h.String(); h.Use != "old" && h.Use != "maiden" && s != "" {
			return s
		}
	}
	return ""
}
