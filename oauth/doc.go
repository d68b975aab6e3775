// Package oauth will be the SMART App Launch authorization server (fosite):
// discovery, clients, accounts, login and MFA, sessions, and the bearer
// token check that turns a request into a Principal. It imports fhir, never
// the internals of consent or audit: it reports sign-ins, tokens and the
// registries' changes through SecurityEvents, an interface it declares,
// which cmd/fhirserver wires to the audit trail.
package oauth
