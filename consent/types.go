package consent

import "slices"

// openTypes lists the types outside the Patient compartment that a
// patient-level permission reads and searches without limit, because
// none of their resources records anything about a patient: who and
// where care is given, what medicines and substances are, and the
// definitions (terminology, conformance, knowledge) the records are
// written against. Each was chosen for that reason, not because nothing
// in it can name a patient in theory: the knowledge artifacts'
// relatedArtifact parameters (ActivityDefinition.depends-on, ...) may
// target any type, yet what they hold is a definition.
//
// Left out, and so limited to the patient in context through their
// reference parameters (see linked) or refused: Device, Contract,
// GuidanceResponse, Linkage, MessageHeader, PaymentNotice and
// VerificationResult (each may name a patient); Binary and Bundle (their
// content can be any patient's data); Subscription (its criteria and
// channel may name a patient and carry credentials); Slot (the free and
// busy times of a Schedule, and a Schedule can be a patient's);
// BiologicallyDerivedProduct (collected from a donor), DeviceMetric (how
// one device, perhaps a patient's, measures), EnrollmentResponse and
// PaymentReconciliation (answers about a patient's enrolment and claims);
// ImplementationGuide, ExampleScenario, TestScript and TestReport (their
// examples and fixtures may be a server's real resources);
// OperationOutcome and Parameters (answers, not records).
var openTypes = setOf(
	// Directories: who and where care is given, and by which plans. A
	// Location may be a patient's home, but it names no one.
	"Practitioner", "PractitionerRole", "Organization", "OrganizationAffiliation",
	"Location", "HealthcareService", "Endpoint", "InsurancePlan",
	// Medicines and substances as products, not as given to anyone.
	"Medication", "MedicationKnowledge", "Substance", "SubstanceSpecification",
	"SubstancePolymer", "SubstanceProtein", "SubstanceNucleicAcid",
	"SubstanceReferenceInformation", "SubstanceSourceMaterial",
	"MedicinalProduct", "MedicinalProductAuthorization", "MedicinalProductContraindication",
	"MedicinalProductIndication", "MedicinalProductIngredient", "MedicinalProductInteraction",
	"MedicinalProductManufactured", "MedicinalProductPackaged", "MedicinalProductPharmaceutical",
	"MedicinalProductUndesirableEffect",
	// Terminology and conformance.
	"ValueSet", "CodeSystem", "ConceptMap", "NamingSystem", "StructureDefinition",
	"StructureMap", "SearchParameter", "OperationDefinition", "CapabilityStatement",
	"TerminologyCapabilities", "CompartmentDefinition", "GraphDefinition", "MessageDefinition",
	// Definitions of what is asked, done, measured or charged, and the
	// evidence behind them.
	"Questionnaire", "PlanDefinition", "ActivityDefinition", "Library", "Measure",
	"ObservationDefinition", "SpecimenDefinition", "DeviceDefinition", "ChargeItemDefinition",
	"EventDefinition", "ResearchDefinition", "ResearchElementDefinition", "Evidence",
	"EvidenceVariable", "EffectEvidenceSynthesis", "RiskEvidenceSynthesis", "CatalogEntry",
	// Studies a patient may look for: who takes part is in Group and
	// ResearchSubject, both in the compartment.
	"ResearchStudy",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// referenceLister is what linked needs of Config.Params beyond Lookup: the
// reference parameters of a type (the searchparam registry has it).
type referenceLister interface {
	ReferenceParams(resourceType string) []string
}

// linked lists the reference parameters of typ, a type outside the
// Patient compartment and not open, that may point to a Patient (their
// targets include Patient, or are any type). A patient-level permission
// reaches a resource of typ when one of them points to the patient in
// context, as if they were compartment parameters; nil (no such
// parameter, or Params cannot list them) means it reaches none.
func (p *Policy) linked(typ string) []string {
	p.mu.RLock()
	params, ok := p.linkedParams[typ]
	p.mu.RUnlock()
	if ok {
		return params
	}
	lister, ok := p.cfg.Params.(referenceLister)
	if !ok {
		return nil
	}
	for _, code := range lister.ReferenceParams(typ) {
		sp, found := p.cfg.Params.Lookup(typ, code)
		if found && (len(sp.Targets) == 0 || slices.Contains(sp.Targets, "Patient")) {
			params = append(params, code)
		}
	}
	p.mu.Lock()
	if len(p.linkedParams) < maxCached {
		p.linkedParams[typ] = params
	}
	p.mu.Unlock()
	return params
}
