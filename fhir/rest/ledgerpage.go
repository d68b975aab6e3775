package rest

import (
	"net/url"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// asOf pins the first page of a newest-first search of a ledger type
// (AuditEvent) to what was recorded before it: every page of it records
// a new AuditEvent, which would otherwise come first and shift the
// offsets of the next pages. The bound rides in the paging cursor with
// the rest of the query. Oldest-first order needs none: new entries come
// last.
func asOf(typ string, values url.Values, now time.Time) url.Values {
	if !fhir.IsLedger(typ) || !newestFirst(values.Get("_sort"), fhir.LedgerDateParam(typ)) {
		return values
	}
	values = cloneValues(values)
	// Before the millisecond of the first page: an event recorded in it,
	// before or after the page, shows on the next search instead.
	values.Add(fhir.LedgerDateParam(typ), "lt"+now.UTC().Truncate(time.Millisecond).Format(fhir.InstantFormat))
	return values
}

// newestFirst reports whether a _sort value sorts by the date param
// descending first.
func newestFirst(sort, date string) bool {
	first, _, _ := strings.Cut(sort, ",")
	return strings.TrimSpace(first) == "-"+date
}
