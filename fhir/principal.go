package fhir

import (
	"context"
	"time"
)

// Principal is who is asking, as the bearer token established it: the
// user (or, for backend services, the client), what they were granted and
// the launch context. The oauth package builds it; policy reads it. It
// never holds the token itself.
type Principal struct {
	Subject  string   // account id, or the client id for backend services
	FHIRUser string   // the user's own resource, relative ("Patient/123"), or ""
	Roles    []string // account roles (patient, proxy, oncologist, ..., auditor, admin)
	Client   string   // OAuth client id
	// Patient and Encounter are the launch context: with Patient set, the
	// principal reaches only that patient's compartment.
	Patient   string
	Encounter string
	// Scopes are the resource permissions the token carries.
	Scopes []Permission
	// Grant identifies the grant behind the token (for audit and
	// revocation); it is not the token.
	Grant        string
	ACR          string
	AMR          []string
	AuthTime     time.Time
	PurposeOfUse []string
}

// Permission is one resource scope, as SMART writes it:
// Level/Type.Ops?Query, for example patient/Observation.rs?category=laboratory.
type Permission struct {
	Level string // "patient", "user" or "system"
	Type  string // a resource type, or "*"
	// Ops is the subset of "cruds" granted, in that order (c create, r read
	// and vread and history, u update and patch, d delete, s search).
	Ops string
	// Query is the granular constraint in search syntax ("" for none): the
	// permission covers only resources matching it.
	Query string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
