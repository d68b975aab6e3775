// Package audit will build and store an AuditEvent for every access (IHE
// BALP shapes), chain them for tamper evidence, and run the alert
// detectors.
package audit
