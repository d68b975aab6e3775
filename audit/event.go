package audit

import (
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
)

// Event is one AuditEvent, built by a builder of this package and ready
// for a Recorder to chain and store.
type Event struct {
	// Resource is the AuditEvent; the builder sets its id and recorded
	// time. The Recorder adds the chain extension.
	Resource models.AuditEvent
	// Index are the event's search index entries that a store keeps (its
	// search keys and date, fhir.LedgerKeyed), built with it as the R4
	// AuditEvent SearchParameters would extract them, so that recording
	// costs no FHIRPath evaluation. When nil, the Recorder builds them.
	// IndexOf builds them all.
	Index []fhir.IndexEntry
	// Patients are the patients the event is about ("" none): what the
	// access report and the detectors look at.
	Patients []string
}
