package synth

// Code systems.
const (
	snomed        = "http://snomed.info/sct"
	loinc         = "http://loinc.org"
	rxnorm        = "http://www.nlm.nih.gov/research/umls/rxnorm"
	ucum          = "http://unitsofmeasure.org"
	bcp47         = "urn:ietf:bcp:47"
	v2IDType      = "http://terminology.hl7.org/CodeSystem/v2-0203"
	v2Section     = "http://terminology.hl7.org/CodeSystem/v2-0074"
	v2ApptReason  = "http://terminology.hl7.org/CodeSystem/v2-0276"
	v3ActCode     = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	v3RoleCode    = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	v3Marital     = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	obsCategory   = "http://terminology.hl7.org/CodeSystem/observation-category"
	condClinical  = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	condVerStatus = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	condCategory  = "http://terminology.hl7.org/CodeSystem/condition-category"
	commCategory  = "http://terminology.hl7.org/CodeSystem/communication-category"
	docCategory   = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
)

// MRNSystem is the identifier system of every generated Patient's medical
// record number; the Bundle creates the Patient only if none has it yet.
const MRNSystem = "https://example.org/fhir/mrn"

var (
	codeMR          = coding{v2IDType, "MR", "Medical record number"}
	classAmbulatory = coding{v3ActCode, "AMB", "ambulatory"}
	encounterFirst  = coding{snomed, "185347001", "Encounter for problem (procedure)"}
	encounterFollow = coding{snomed, "390906007", "Follow-up encounter (procedure)"}

	catLaboratory = cc(coding{obsCategory, "laboratory", "Laboratory"})
	catVitalSigns = cc(coding{obsCategory, "vital-signs", "Vital Signs"})
	catPathology  = cc(coding{v2Section, "PAT", "Pathology (gross & histopath, not surgical)"})

	pathologyReport = coding{loinc, "60567-5", "Comprehensive pathology report panel"}
	progressNote    = coding{loinc, "11506-3", "Progress note"}
	clinicalNote    = coding{docCategory, "clinical-note", "Clinical Note"}

	surgicalProcedure   = coding{snomed, "387713003", "Surgical procedure (procedure)"}
	diagnosticProcedure = coding{snomed, "103693007", "Diagnostic procedure (procedure)"}
	chemotherapy        = coding{snomed, "367336001", "Chemotherapy (procedure)"}
	intravenous         = coding{snomed, "47625008", "Intravenous route (qualifier value)"}

	carePlanGeneric = coding{snomed, "734163000", "Care plan (record artifact)"}
	carePlanCancer  = coding{snomed, "395082007", "Cancer care plan (record artifact)"}

	roleOncologist = coding{snomed, "309295000", "Clinical oncologist (occupation)"}
	roleNurse      = coding{snomed, "224535009", "Registered nurse (occupation)"}
	rolePatient    = coding{snomed, "116154003", "Patient (person)"}

	followUp     = coding{v2ApptReason, "FOLLOWUP", "A follow up visit from a previous appointment"}
	notification = cc(coding{commCategory, "notification", "Notification"})
)

// measure is one kind of quantity: its LOINC code, its UCUM unit and the
// number of decimals it is reported with.
type measure struct {
	code   coding
	unit   string
	places int
	name   string // short name for notes
}

var (
	bodyWeight = measure{coding{loinc, "29463-7", "Body weight"}, "kg", 1, "weight"}
	bodyHeight = measure{coding{loinc, "8302-2", "Body height"}, "cm", 1, "height"}
	heartRate  = measure{coding{loinc, "8867-4", "Heart rate"}, "/min", 0, "heart rate"}
	systolic   = measure{coding{loinc, "8480-6", "Systolic blood pressure"}, "mm[Hg]", 0, "systolic"}
	diastolic  = measure{coding{loinc, "8462-4", "Diastolic blood pressure"}, "mm[Hg]", 0, "diastolic"}
	bpPanel    = coding{loinc, "85354-9", "Blood pressure panel with all children optional"}

	hemoglobin = measure{coding{loinc, "718-7", "Hemoglobin [Mass/volume] in Blood"}, "g/dL", 1, "hemoglobin"}
	leukocytes = measure{coding{loinc, "6690-2", "Leukocytes [#/volume] in Blood by Automated count"}, "10*3/uL", 1, "white cells"}
	platelets  = measure{coding{loinc, "777-3", "Platelets [#/volume] in Blood by Automated count"}, "10*3/uL", 0, "platelets"}
	creatinine = measure{coding{loinc, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"}, "mg/dL", 2, "creatinine"}

	cea   = measure{coding{loinc, "2039-6", "Carcinoembryonic Ag [Mass/volume] in Serum or Plasma"}, "ng/mL", 1, "CEA"}
	ca153 = measure{coding{loinc, "6875-9", "Cancer Ag 15-3 [Units/volume] in Serum or Plasma"}, "U/mL", 1, "CA 15-3"}
)

// drug is one chemotherapy order: an RxNorm ingredient and its dosing text.
type drug struct {
	rx   coding
	dose string
}

func rx(code, name string) coding { return coding{rxnorm, code, name} }

var (
	doxorubicin      = rx("3639", "doxorubicin")
	cyclophosphamide = rx("3002", "cyclophosphamide")
	paclitaxel       = rx("56946", "paclitaxel")
	carboplatin      = rx("40048", "carboplatin")
	pembrolizumab    = rx("1547545", "pembrolizumab")
	oxaliplatin      = rx("32592", "oxaliplatin")
	fluorouracil     = rx("4492", "fluorouracil")
)

// cancer describes one kind of cancer: its diagnosis, how it is found and
// treated, and how its tumour marker behaves (mean and spread at diagnosis,
// and once treatment has started).
type cancer struct {
	condition  coding
	femaleOnly bool
	minAge     int
	maxAge     int
	scope      *coding // an endoscopy before the biopsy, if any
	biopsy     coding
	surgery    coding
	pathology  []string
	marker     measure
	markerDx   [2]float64
	markerTx   [2]float64
	firstLine  []drug
	secondLine []drug
}

var colonoscopy = coding{snomed, "73761001", "Colonoscopy (procedure)"}

var cancers = [...]cancer{
	{
		condition:  coding{snomed, "254837009", "Malignant neoplasm of breast"},
		femaleOnly: true,
		minAge:     32,
		maxAge:     84,
		biopsy:     coding{snomed, "122548005", "Biopsy of breast (procedure)"},
		surgery:    coding{snomed, "392021009", "Lumpectomy of breast (procedure)"},
		pathology: []string{
			"Invasive ductal carcinoma of the breast, histologic grade 2. Estrogen receptor positive, HER2 negative.",
			"Invasive ductal carcinoma of the breast, histologic grade 3. Hormone receptor negative.",
			"Invasive lobular carcinoma of the breast, histologic grade 2. Estrogen receptor positive.",
		},
		marker:   ca153,
		markerDx: [2]float64{48, 14},
		markerTx: [2]float64{24, 6},
		firstLine: []drug{
			{doxorubicin, "60 mg/m2 IV on day 1 every 21 days for 4 cycles"},
			{cyclophosphamide, "600 mg/m2 IV on day 1 every 21 days for 4 cycles"},
		},
		secondLine: []drug{
			{paclitaxel, "80 mg/m2 IV weekly for 12 weeks"},
		},
	},
	{
		condition: coding{snomed, "424132000", "Non-small cell carcinoma of lung, TNM stage 1"},
		minAge:    45,
		maxAge:    86,
		biopsy:    coding{snomed, "432231006", "Fine needle aspiration biopsy of lung (procedure)"},
		surgery:   coding{snomed, "173171007", "Lobectomy of lung (procedure)"},
		pathology: []string{
			"Non-small cell carcinoma of the lung, adenocarcinoma type. No lymphovascular invasion identified.",
			"Non-small cell carcinoma of the lung, squamous cell type. Hilar lymph nodes negative.",
		},
		marker:   cea,
		markerDx: [2]float64{7.5, 3},
		markerTx: [2]float64{3.2, 1},
		firstLine: []drug{
			{carboplatin, "AUC 6 IV on day 1 every 21 days for 4 cycles"},
			{paclitaxel, "200 mg/m2 IV on day 1 every 21 days for 4 cycles"},
		},
		secondLine: []drug{
			{pembrolizumab, "200 mg IV every 21 days"},
		},
	},
	{
		condition: coding{snomed, "363406005", "Malignant neoplasm of colon"},
		minAge:    40,
		maxAge:    85,
		scope:     &colonoscopy,
		biopsy:    coding{snomed, "76164006", "Biopsy of colon (procedure)"},
		surgery:   coding{snomed, "43075005", "Partial resection of colon (procedure)"},
		pathology: []string{
			"Adenocarcinoma of the colon, moderately differentiated. Mismatch repair proteins retained.",
			"Adenocarcinoma of the colon, well differentiated. No tumour budding seen.",
		},
		marker:   cea,
		markerDx: [2]float64{18, 8},
		markerTx: [2]float64{3.8, 1.2},
		firstLine: []drug{
			{oxaliplatin, "85 mg/m2 IV on day 1 every 14 days (FOLFOX)"},
			{fluorouracil, "400 mg/m2 IV bolus, then 2400 mg/m2 IV over 46 hours, every 14 days (FOLFOX)"},
		},
		secondLine: []drug{
			{fluorouracil, "2400 mg/m2 IV over 46 hours every 14 days (maintenance)"},
		},
	},
}

// Caregiver relationships (v3-RoleCode) and the caregiver's gender, empty
// when either is possible.
var caregivers = []struct {
	code   coding
	gender string
}{
	{coding{v3RoleCode, "SPS", "spouse"}, ""},
	{coding{v3RoleCode, "DAU", "natural daughter"}, "female"},
	{coding{v3RoleCode, "SON", "natural son"}, "male"},
	{coding{v3RoleCode, "SIB", "sibling"}, ""},
	{coding{v3RoleCode, "FRND", "unrelated friend"}, ""},
}

var (
	married      = coding{v3Marital, "M", "Married"}
	otherMarital = []coding{
		{v3Marital, "S", "Never Married"},
		{v3Marital, "W", "Widowed"},
		{v3Marital, "D", "Divorced"},
	}
	english = concept{Coding: []coding{{bcp47, "en-US", "English (United States)"}}, Text: "English"}
	spanish = concept{Coding: []coding{{bcp47, "es", "Spanish"}}, Text: "Spanish"}
)

var messages = []string{
	"Your lab results are available.",
	"Your next appointment has been scheduled.",
	"Please bring your current medication list to your next visit.",
	"Your care plan has been updated.",
	"A new visit note is available to read.",
}
