// Package oauth will be the SMART App Launch authorization server (fosite):
// discovery, clients, accounts, login and MFA, sessions, and the bearer
// token check that turns a request into a Principal. It imports fhir, never
// the internals of consent or audit.
package oauth
