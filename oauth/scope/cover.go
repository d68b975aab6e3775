package scope

import (
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// Covers reports whether holding s is enough to be granted r, under SMART
// semantics:
//   - a non-resource scope covers only itself;
//   - a resource scope covers only resource scopes of the same level (user
//     never covers patient, and system only system);
//   - its type is "*" or r's type;
//   - r's ops are a subset of its ops, whether either was written v1 or v2;
//   - without a query it covers r with or without one; with a query it
//     covers only an r with the same query, compared as sorted, decoded
//     name=value pairs.
func (s Scope) Covers(r Scope) bool {
	if !s.IsResource() || !r.IsResource() {
		return s.Name != "" && s.Name == r.Name
	}
	if s.Level == "" || s.Level != r.Level || r.Ops == "" {
		return false
	}
	if s.Type != "*" && s.Type != r.Type {
		return false
	}
	for i := 0; i < len(r.Ops); i++ {
		if strings.IndexByte(s.Ops, r.Ops[i]) < 0 {
			return false
		}
	}
	if s.Query == "" {
		return true
	}
	return r.Query != "" && canonicalQuery(s.Query) == canonicalQuery(r.Query)
}

// Strategy reports whether the granted scopes (a client's registered scopes,
// or an earlier grant) cover the requested one. It has the signature of
// fosite.ScopeStrategy (func(haystack []string, needle string) bool), so it
// goes in fosite's Config as is. A requested scope that does not parse is
// never covered: callers drop unknown scopes before fosite sees them.
// Granted scopes that do not parse are ignored.
func Strategy(granted []string, requested string) bool {
	r, err := Parse(requested)
	if err != nil {
		return false
	}
	return coveredBy(parseAll(granted), r)
}

// Subset reports whether every requested scope is covered by the original
// grant: the check a refresh request's scope parameter must pass. A
// requested scope that does not parse makes it false; no requested scopes
// makes it true (a refresh without scope keeps the original grant).
func Subset(original, requested []string) bool {
	grant := parseAll(original)
	for _, tok := range requested {
		r, err := Parse(tok)
		if err != nil || !coveredBy(grant, r) {
			return false
		}
	}
	return true
}

// Narrow returns the scopes to grant when the user (or client policy) kept
// only some of what was requested. Each kept scope that some requested
// scope covers is granted, in kept order and once; others, and tokens that
// do not parse, are dropped, so nothing beyond the request is granted.
// Kept may be narrower than the request (patient/Observation.rs out of
// patient/*.rs, or a category-constrained scope out of a plain one).
//
// Scopes come back in the version they were requested in (that of the first
// requested scope covering them): under a v1 request a kept scope is written v1 when its ops have a v1 word and it has
// no query (patient/Observation.read, not .rs), and v2 otherwise; under a v2
// request it is always v2.
func Narrow(requested, kept []string) []string {
	req := parseAll(requested)
	var out []string
	seen := map[string]bool{}
	for _, tok := range kept {
		k, err := Parse(tok)
		if err != nil {
			continue
		}
		for _, r := range req {
			if !r.Covers(k) {
				continue
			}
			g := k.AsV2()
			if r.V1 {
				if v1, ok := k.AsV1(); ok {
					g = v1
				}
			}
			if s := g.String(); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
			break
		}
	}
	return out
}

// Permissions returns the resource permissions of a granted scope list:
// v2 ops, the query as written, each permission once, in order.
// Non-resource scopes and tokens that do not parse are left out.
func Permissions(granted []string) []fhir.Permission {
	var out []fhir.Permission
	seen := map[fhir.Permission]bool{}
	for _, tok := range granted {
		s, err := Parse(tok)
		if err != nil {
			continue
		}
		p, ok := s.Permission()
		if !ok || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// ScopesSupported is what the server advertises as scopes_supported in
// .well-known/smart-configuration: the non-resource scopes and wildcard
// read/search and full-access resource scopes at each level, v2 and v1.
func ScopesSupported() []string {
	return []string{
		OpenID, FHIRUser, Profile,
		Launch, LaunchPatient, LaunchEncounter,
		OfflineAccess, OnlineAccess,
		"patient/*.rs", "user/*.rs", "system/*.rs",
		"patient/*.cruds", "user/*.cruds", "system/*.cruds",
		"patient/*.read", "user/*.read", "system/*.read",
	}
}

func parseAll(toks []string) []Scope {
	out := make([]Scope, 0, len(toks))
	for _, tok := range toks {
		if s, err := Parse(tok); err == nil {
			out = append(out, s)
		}
	}
	return out
}

func coveredBy(grant []Scope, r Scope) bool {
	for _, g := range grant {
		if g.Covers(r) {
			return true
		}
	}
	return false
}
