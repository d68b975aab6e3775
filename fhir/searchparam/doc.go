// Package searchparam turns the R4 SearchParameters embedded in
// conformance into what the server searches with:
//
//   - Load builds a Registry: for every resource type, its parameters
//     (those of Resource and DomainResource included), each with its
//     FHIRPath expression compiled once, its type, targets and components;
//   - Registry.Lookup answers the query parser (it implements
//     search.Params), Registry.Params lists what the CapabilityStatement
//     advertises, and Registry.Unsupported says, with a reason, which
//     parameters are left out;
//   - Registry.Extract, run on every write, decodes a resource once and
//     turns the values each expression selects into fhir.IndexEntry values.
//
// # Expressions
//
// A parameter shared by several resource types has one expression, a union
// with a branch per type ("AllergyIntolerance.code | Condition.code | …").
// Branches rooted at another type yield nothing, so the union is correct
// on every base; Load still keeps, for each type, only the branches rooted
// at it (or at Resource / DomainResource), so that a write evaluates only
// what can match. Identical expressions are compiled once. A parameter
// whose expression is made of plain paths is not evaluated at all on a
// resource that lacks the first element of each path (see presence.go):
// most of a type's parameters concern elements a given resource does not
// have.
//
// One published definition is corrected: R4's composite
// DocumentReference-relationship gives its reference component (relatesto)
// the expression "code" and its token component (relation) "target"; the
// registry swaps them, as later FHIR versions do.
//
// # Index entries
//
// Entries follow the contract documented on fhir.IndexEntry. Each entry's
// Param is the parameter's code. Where that contract leaves a choice:
//
//   - string: a HumanName gives an entry per part (each given, family,
//     each prefix and suffix) and one for its text; when it has no text,
//     the parts joined by spaces (prefix given family suffix) stand for it,
//     so that "name=john smith" finds John Smith. An Address likewise
//     gives its lines, city, district, state, postal code and country, and
//     its text or, failing that, those parts joined.
//   - token: a CodeableConcept gives one entry per coding (System, Code,
//     Text the folded display), and its text as an entry of its own with
//     only Text set, unless a coding's display already folds to the same
//     text. A Coding without system and code but with a display gives a
//     Text-only entry too. An Identifier gives System and value (Text the
//     folded type.text, if any), plus for each coding of its type an entry
//     "<param>:of-type" with System and Code the type coding and Text the
//     identifier value as written. A ContactPoint gives its value in Code
//     with System empty: FHIR matches a token on a ContactPoint by value,
//     its system (phone, email…) being what the phone and email parameters
//     select. Primitives (code, string, id, uri, integer) give Code as
//     written; a boolean "true" or "false". An element without a value
//     (an Identifier with no value, a Coding with nothing) gives nothing.
//   - reference: a relative reference (Patient/1, Patient/1/_history/2) or
//     an absolute one under the server's base (see WithBaseURL) gives
//     System "Patient" and Code "Patient/1"; any other URL or URN is kept
//     as written with System empty; "#id" references to contained
//     resources give nothing. A Reference with an identifier gives an
//     entry "<param>:identifier" with System the identifier's system and
//     both Code and Text its value. A canonical ("url|version") gives its
//     value as written and, when versioned, the URL alone as a second entry.
//   - date: Low and High in Unix milliseconds, the start rounded down and
//     the end rounded up to a whole millisecond. A Period without start
//     begins at -Inf, without end ends at +Inf; a Timing covers its events
//     (earliest to latest) and its repeat.boundsPeriod.
//   - number and quantity: the range is the precision of the value as
//     written (13.50 covers [13.495, 13.505)). A Quantity with comparator
//     < or <= covers [-Inf, High), > or >= [Low, +Inf). A Range covers
//     low..high, an open end being infinite. Money gives its currency as
//     Code, with System urn:iso:std:iso:4217. SampledData gives nothing.
//   - composite: every combination of the components' entries on one node
//     of the composite's expression (a coding × a quantity), Parts in the
//     order of the components, each part's Param the component parameter's
//     code. The extra :of-type and :identifier entries are not parts, nor
//     are the Text-only entries of a concept's text.
//
// Duplicate entries of one parameter are written once.
package searchparam
