package scope

import (
	"errors"
	"fmt"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// Errors Parse wraps; test with errors.Is.
var (
	// ErrUnknown: the token is not a scope this server knows. Callers drop it.
	ErrUnknown = errors.New("unknown scope")
	// ErrMalformed: the token starts like a resource scope but breaks the
	// SMART grammar.
	ErrMalformed = errors.New("malformed scope")
)

// Levels of a resource scope.
const (
	Patient = "patient"
	User    = "user"
	System  = "system"
)

// The non-resource scopes this server knows.
const (
	Launch          = "launch"
	LaunchPatient   = "launch/patient"
	LaunchEncounter = "launch/encounter"
	OpenID          = "openid"
	FHIRUser        = "fhirUser"
	Profile         = "profile"
	OfflineAccess   = "offline_access"
	OnlineAccess    = "online_access"
)

var nonResource = map[string]bool{
	Launch: true, LaunchPatient: true, LaunchEncounter: true,
	OpenID: true, FHIRUser: true, Profile: true,
	OfflineAccess: true, OnlineAccess: true,
}

// allOps is every SMART v2 permission letter, in the order scopes write them.
const allOps = "cruds"

// v1 words and the v2 letters they stand for.
var v1Ops = map[string]string{"read": "rs", "write": "cud", "*": allOps}

// maxTypeLen bounds a resource type name; the longest R4 name has 34 letters.
const maxTypeLen = 64

// Scope is one parsed scope token. The zero value is not a valid scope.
// Scopes are comparable: two tokens that parse to == scopes are the same
// token.
type Scope struct {
	// Name is the whole token of a non-resource scope ("openid",
	// "launch/patient"); it is "" for a resource scope.
	Name string
	// Level, Type, Ops and Query are set for resource scopes only. Ops is
	// always the v2 letters, in "cruds" order, even when the token was v1.
	Level string
	Type  string
	Ops   string
	// Query is the granular constraint exactly as written, without the "?".
	Query string
	// V1 is true when the token wrote its ops as a v1 word (read, write, *).
	V1 bool
}

// IsResource reports whether s grants access to FHIR resources.
func (s Scope) IsResource() bool { return s.Name == "" }

// Permission returns the resource permission s grants, with v2 ops and the
// query as written; ok is false for a non-resource scope.
func (s Scope) Permission() (p fhir.Permission, ok bool) {
	if !s.IsResource() {
		return fhir.Permission{}, false
	}
	return fhir.Permission{Level: s.Level, Type: s.Type, Ops: s.Ops, Query: s.Query}, true
}

// String returns the token s was parsed from, in the version it was written.
func (s Scope) String() string {
	if !s.IsResource() {
		return s.Name
	}
	var b strings.Builder
	b.WriteString(s.Level)
	b.WriteByte('/')
	b.WriteString(s.Type)
	b.WriteByte('.')
	b.WriteString(s.opsWord())
	if s.Query != "" {
		b.WriteByte('?')
		b.WriteString(s.Query)
	}
	return b.String()
}

// opsWord is how s writes its ops: the v1 word when s is v1, else the letters.
func (s Scope) opsWord() string {
	if s.V1 {
		if w, ok := v1Word(s.Ops); ok {
			return w
		}
	}
	return s.Ops
}

// v1Word returns the v1 word for v2 ops, if there is one.
func v1Word(ops string) (string, bool) {
	switch ops {
	case "rs":
		return "read", true
	case "cud":
		return "write", true
	case allOps:
		return "*", true
	}
	return "", false
}

// AsV2 returns s written with v2 ops.
func (s Scope) AsV2() Scope {
	s.V1 = false
	return s
}

// AsV1 returns s written with its v1 word, if it is a resource scope without
// a query whose ops have one (rs, cud, cruds); ok is false otherwise.
func (s Scope) AsV1() (Scope, bool) {
	if !s.IsResource() || s.Query != "" {
		return s, false
	}
	if _, ok := v1Word(s.Ops); !ok {
		return s, false
	}
	s.V1 = true
	return s, true
}

// Parse parses one scope token. Its error wraps ErrUnknown or ErrMalformed.
func Parse(tok string) (Scope, error) {
	if nonResource[tok] {
		return Scope{Name: tok}, nil
	}
	level, rest, ok := strings.Cut(tok, "/")
	if !ok || (level != Patient && level != User && level != System) {
		return Scope{}, fmt.Errorf("scope %q: %w", tok, ErrUnknown)
	}
	bad := func(why string) (Scope, error) {
		return Scope{}, fmt.Errorf("scope %q: %w: %s", tok, ErrMalformed, why)
	}
	head, query, hasQuery := strings.Cut(rest, "?")
	typ, ops, ok := strings.Cut(head, ".")
	if !ok {
		return bad(`no "." between the resource type and the permissions`)
	}
	if !validType(typ) {
		return bad("the resource type must be * or a name of letters starting upper case")
	}
	s := Scope{Level: level, Type: typ}
	if v2, ok := v1Ops[ops]; ok {
		s.Ops, s.V1 = v2, true
	} else if why := checkOps(ops); why != "" {
		return bad(why)
	} else {
		s.Ops = ops
	}
	if hasQuery {
		if s.V1 {
			return bad("a granular query needs v2 permissions (cruds letters), not read, write or *")
		}
		if why := checkQuery(query); why != "" {
			return bad(why)
		}
		s.Query = query
	}
	return s, nil
}

// validType accepts "*" or a plausible resource type name.
func validType(t string) bool {
	if t == "*" {
		return true
	}
	if t == "" || len(t) > maxTypeLen || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// checkOps says what is wrong with v2 permission letters, or "" if nothing.
func checkOps(ops string) string {
	if ops == "" {
		return "no permissions after the ."
	}
	next := 0 // index in allOps the next letter may start from
	for i := 0; i < len(ops); i++ {
		j := strings.IndexByte(allOps[next:], ops[i])
		if j < 0 {
			if strings.IndexByte(allOps, ops[i]) < 0 {
				return fmt.Sprintf("permission %q is not one of c, r, u, d, s, read, write or *", ops[i])
			}
			return "permissions must be written once each, in the order c r u d s"
		}
		next += j + 1
	}
	return ""
}

// ParseList parses a space-separated scope parameter. It keeps each scope
// once, in the order first seen, and returns the tokens it did not know in
// unknown (callers drop them). err is the first malformed token, wrapping
// ErrMalformed; scopes and unknown are complete even then.
func ParseList(param string) (scopes []Scope, unknown []string, err error) {
	seen := map[Scope]bool{}
	for _, tok := range strings.Fields(param) {
		s, perr := Parse(tok)
		switch {
		case errors.Is(perr, ErrUnknown):
			unknown = append(unknown, tok)
		case perr != nil:
			if err == nil {
				err = perr
			}
		case !seen[s]:
			seen[s] = true
			scopes = append(scopes, s)
		}
	}
	return scopes, unknown, err
}

// Join writes scopes as a scope parameter.
func Join(scopes []Scope) string {
	toks := make([]string, len(scopes))
	for i, s := range scopes {
		toks[i] = s.String()
	}
	return strings.Join(toks, " ")
}
