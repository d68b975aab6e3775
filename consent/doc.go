// Package consent is the one policy decision point: given who asks (a
// fhir.Principal), what they do (an Interaction), on which type and, when
// there is one, on which resource, Decide answers permit, deny, or permit
// with obligations (Limits: the patient compartment and search criteria
// the reachable resources must satisfy). A denial is a value, not an error.
//
// Today the decision follows the SMART permissions of the token (scope
// letters per interaction, "*" types, granular queries, the union of
// several permissions) and its patient context: patient-level permissions
// read only the patient's compartment, the types that hold no patient's
// data (directories, definitions) and the resources of other types that
// name the patient; they write only within the compartment, never content
// that names another patient, and never Provenance or Consent.
//
// AuditEvents are read and searched only through user-level permissions
// of a principal with the auditor or admin role, or through system-level
// ones (a backend service such as a SIEM); never through patient-level
// permissions, nor by other staff roles, whatever they were granted; and
// no permission writes them. A decision over every type says, through
// Except, that it does not reach them.
//
// Other roles, Consent resources, security labels and break-glass will
// narrow it further; they add to the same Request and Decision.
package consent
