// Package audit records an AuditEvent for every access, in the IHE Basic
// Audit Log Patterns (BALP) shapes: the events are a closed set of
// constants with typed builders; a Recorder chains each event to its
// predecessor (a hash over its canonical JSON, see chain.go), stores it
// durably before the response that caused it is sent, and signs
// checkpoints with a key kept apart from the data; Verify re-walks the
// chains and names every modified, inserted or missing event, the first
// of each chain first.
package audit
