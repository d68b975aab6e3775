package consent

import (
	"slices"

	"github.com/oncofhir/oncofhir/fhir"
)

// auditEvent is the type of the server's access record. An AuditEvent
// names the patient whose data was touched and the staff member, app and
// network address that touched it, and together they are the evidence
// HIPAA reviews; so they are read only by those whose work is reviewing
// them, and written by no one through the API.
const auditEvent = "AuditEvent"

// auditRoles are the account roles whose user-level permissions reach
// AuditEvents.
var auditRoles = []string{"auditor", "admin"}

// reachesAudit reports whether a permission of level, held by who, reaches
// AuditEvents for letter. Only reading and searching, and only:
//   - at user level, for a user with the auditor or admin role: other
//     staff roles do not, whatever their permissions (user/*.rs);
//   - at system level, for a backend service (a SIEM exporting them).
//
// Patient-level permissions never do, not even for the patient's own
// record: a patient learns who accessed it from the access report, which
// shows staff by name and role and leaves internal identifiers out.
// No permission writes them: the server records them (and the REST layer
// answers 405 before asking).
func reachesAudit(who *fhir.Principal, level string, letter byte) bool {
	if writes(letter) {
		return false
	}
	switch level {
	case "system":
		return true
	case "user":
		return slices.ContainsFunc(who.Roles, func(r string) bool { return slices.Contains(auditRoles, r) })
	}
	return false
}

// auditDenial explains a refusal on AuditEvent.
func auditDenial(in Interaction) string {
	if writes(in.letter()) {
		return "the access granted does not include " + string(in) + " of AuditEvent: AuditEvents are recorded by the server only"
	}
	return "the access granted does not include " + string(in) + " of AuditEvent: AuditEvents are read by auditors, administrators and backend services only"
}

// auditExcept is the Except of a system-wide decision whose permissions
// reach every type without limit: AuditEvent, when they do not reach it
// so.
func (p *Policy) auditExcept(who *fhir.Principal, letter byte) []string {
	if limits, ok := p.grants(who, letter, auditEvent); ok && limits == nil {
		return nil
	}
	return []string{auditEvent}
}
