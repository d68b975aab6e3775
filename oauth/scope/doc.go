// Package scope owns SMART App Launch 2.2 scopes: it parses scope tokens,
// decides whether one scope covers another, narrows a request to what the
// user and client kept, turns a grant into fhir.Permission values and
// describes each scope in words a patient understands.
//
// A resource scope is (patient|user|system)/(Type|*).ops[?query], where ops
// is either SMART v2 (a non-empty, in-order subset of "cruds") or v1 ("read"
// for rs, "write" for cud, "*" for cruds); a granular query is allowed with
// v2 only. The other scopes it knows are launch, launch/patient,
// launch/encounter, openid, fhirUser, profile, offline_access and
// online_access.
//
// Parse tells two failures apart. ErrUnknown means the token is not a SMART
// scope this server knows (say "email" or "launch/imagingstudy"): callers
// drop such scopes from a request rather than fail it, as OAuth lets an
// authorization server grant less than was asked. ErrMalformed means the
// token claims to be a resource scope but breaks the grammar
// ("patient/Observation.dus"): SMART lets a server ignore or reject those;
// ParseList reports them so the authorization endpoint can answer
// invalid_scope and the app's developer sees the mistake.
//
// Strategy has the shape of fosite.ScopeStrategy, so the provider uses SMART
// covering (patient/*.rs covers patient/Observation.rs, v1 read equals v2 rs)
// without this package importing fosite.
package scope
