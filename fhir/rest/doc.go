// Package rest serves the FHIR R4 REST API under /fhir with echo: the
// instance, type and system interactions (read, vread, create, update,
// patch, delete, conditional variants, history, batch and transaction) and
// the CapabilityStatement. Every route is listed in Register; every error is
// written by ErrorHandler as an OperationOutcome.
//
// Handlers turn an HTTP request into an interaction value and run it through
// the same code that runs each entry of a batch or transaction Bundle, so a
// rule enforced for one is enforced for the other.
//
// With Deps.Guard set, every route but the CapabilityStatement needs a
// principal in the request context, and every interaction, every query and
// every resource returned or replaced passes the Guard's decision (see
// guard.go). A search over every type that the decision does not let reach
// one type (AuditEvent) runs as one query per type served.
//
// AuditEvents are never written through the API: a create, update, patch
// or delete of one, conditional or not, as a request or a Bundle entry,
// answers 405, with or without a Guard.
//
// When the request context carries a fhir.Trail, every resource the
// request returns (after the access decision) and every version it writes
// is recorded there for the audit trail (see trail.go).
package rest
