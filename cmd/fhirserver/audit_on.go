//go:build !auditoff

package main

// withoutAudit is true only in a build with the auditoff tag, made to
// measure what the audit trail costs; such a build refuses to serve
// anything but loopback.
const withoutAudit = false
