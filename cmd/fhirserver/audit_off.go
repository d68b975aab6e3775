//go:build auditoff

package main

// withoutAudit: this build records no AuditEvent for requests. It exists
// only to measure the audit trail's cost (README.md, "Figures"), and
// refuses to serve anything but loopback.
const withoutAudit = true
