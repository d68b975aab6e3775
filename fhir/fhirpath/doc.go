// Package fhirpath evaluates the FHIRPath expressions that FHIR R4
// SearchParameters use, over resources decoded by encoding/json (with
// UseNumber) into map[string]any.
//
// An expression is compiled once with Compile and may then be evaluated
// concurrently on any number of resources. The result is a collection of
// Nodes: the decoded JSON value, the FHIR type when it is known and the name
// of the element it came from.
//
// # What is covered
//
// Paths (with arrays flattened and missing elements yielding empty), the
// resource type as the first step of a path (`Patient.name` on a Patient; on
// any other resource it yields empty, so `Patient.x | Group.y` works on both;
// `Resource` and `DomainResource` match their subtypes), indexers `[i]`,
// string, number, boolean, date/time and `{}` literals, `%resource`,
// `%rootResource`, `%context`, `%ucum`, `%sct`, `%loinc`, `$this`, `$index`,
// the operators `.`, `|`, `=`, `!=`, `~`, `!~`, `<`, `<=`, `>`, `>=`, `and`,
// `or`, `xor`, `implies`, `in`, `contains`, `is`, `as`, `+`, `-`, `*`, `/`,
// `div`, `mod`, `&`, and the functions empty, exists, all, not, count,
// first, last, tail, skip, take, single, distinct, where, select, ofType, as,
// is, resolve, extension, hasValue, union, combine, startsWith, endsWith,
// contains, lower, upper and length. Unknown functions and constants,
// wrong argument counts and syntax errors are reported by Compile.
//
// # Types
//
// A choice element is navigated by its name without the suffix: `value` on
// an object yields each key value<Type> whose suffix names a FHIR type, with
// Node.Type set to that type (valueQuantity → "Quantity", valueDateTime →
// "dateTime": primitive types keep their lower-case FHIR names). A node that
// is a resource (an object with resourceType) has that type. Other nodes
// have Type "" and, for is/as/ofType, the type their JSON value implies:
// boolean, integer or decimal for numbers, string for strings. Type tests
// follow the FHIR hierarchy (code, id and markdown are strings; url,
// canonical, oid and uuid are uris; Age, Count, Distance, Duration are
// Quantities; every resource is a Resource). The FHIRPath system type names
// (String, Boolean, Integer, Decimal, Date, DateTime, Time), bare or as
// System.X, match the FHIR primitives that convert to them, so
// `value.as(DateTime)` keeps valueDateTime. A FHIR.X prefix is accepted.
//
// `as` (operator and function) filters the whole input collection, as the
// search parameters need (`Observation.component.value as Quantity`), where
// the specification would reject more than one item; `is` keeps the rule and
// wants at most one.
//
// # resolve()
//
// resolve() fetches nothing. Applied to a Reference (its reference element)
// or to a reference string it yields a pseudo-node naming the target: Value
// is {"resourceType": T, "id": id} and Type is T, taken from a relative
// reference (Patient/123, Patient/123/_history/2) or an absolute one
// (http://x/fhir/Patient/123). A local reference "#id" yields the contained
// resource itself, looked up in the resource passed to Eval ("#" alone yields
// that resource). When the reference string names no type (urn:uuid:,
// urn:oid:, missing, malformed), a Reference's type element is used if
// present, else the item yields nothing. So `subject.where(resolve() is
// Patient)` keeps the subjects that point at a Patient.
//
// # Left out
//
// Primitive extensions (the `_birthDate` sibling objects) are not navigated:
// `birthDate.extension` is empty. Quantity literals, `$total`, aggregate(),
// iif(), terminology functions (memberOf, subsumes), descendants() and
// children() are not supported; none of the R4 SearchParameters use them.
// Dates and times compare as text: `=` is exact (so values of different
// precision are unequal, where the specification answers empty), `<` and `>`
// answer empty when one value is a prefix of the other, and time zones are
// not normalised. Numbers compare as float64.
package fhirpath
