// Package fhir is the domain root of the server: the resource envelope kept
// by every storage engine, the Store port those engines implement, the one
// error type (Error) and its mapping to OperationOutcome and HTTP status, and
// the small JSON helpers that set server-owned elements (id, meta) without
// touching anything else the client sent.
//
// It imports nothing else of this module. Technology lives in subpackages:
// fhir/rest (HTTP), fhir/sqlitestore and fhir/mongostore (engines), and
// fhir/storetest (the contract suite every engine passes).
package fhir
