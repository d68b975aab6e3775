// Package search owns the meaning of a FHIR R4 search request, apart from
// any storage engine:
//
//   - Fold, the one folding of text for string search and token :text,
//     used both when index entries are extracted and when a query is read;
//   - Parse, which turns the query parameters of a search into a
//     fhir.Query (the criteria every engine plans and runs), the result
//     parameters the caller applies (_include, _revinclude, _summary,
//     _elements, _total, _type, _count) and the chains and reverse chains
//     (_has) the caller resolves by running their inner queries first;
//   - Match, the reference implementation of the matching rules of
//     fhir.Clause over one resource's index entries, for engines that cannot
//     express a rule in their own query language and for tests.
//
// The package knows the search parameters only through the small Params
// interface; the R4 definitions live elsewhere.
package search
