package rest

// What a request returned and wrote goes into the fhir.Trail its context
// carries, at the point where it leaves or is stored; the audit trail turns
// the Trail into AuditEvents before the response is sent. Only what passed
// the access decision is recorded: a resource left out of a result was not
// disclosed. Entries share the resources' JSON; nothing is copied.

import (
	"context"

	"github.com/oncofhir/oncofhir/fhir"
)

// trailEverything is the Trail code of Patient/$everything; the other
// codes are the consent interactions'.
const trailEverything = "everything"

// disclose records the resources one interaction returns.
func disclose(ctx context.Context, code string, list []*fhir.Resource) {
	if len(list) > 0 {
		fhir.TrailFrom(ctx).AddResources(code, list)
	}
}

// record records what one interaction (a request, or a Bundle entry) did:
// the version it wrote, or the resource it returns. Nothing is recorded
// for an answer that shows nothing: a conditional create whose match the
// principal may not read, a delete of what was already deleted, a
// conditional delete that matched nothing.
func record(t *fhir.Trail, in *interaction, out *outcome) {
	if t == nil || out == nil || out.res == nil {
		return
	}
	r := out.res
	if !out.written && (out.withheld || r.Deleted) {
		return
	}
	code := string(interactionOf(in))
	if !out.written && code == "create" {
		code = "read" // a conditional create's match: returned, not written
	}
	body := r.JSON
	if r.Deleted && out.written && out.prior != nil {
		body = out.prior.JSON // a delete: the content it deleted
	}
	t.Add(fhir.TrailEntry{Interaction: code, Type: r.Type, ID: r.ID, Version: r.Version, JSON: body})
}
