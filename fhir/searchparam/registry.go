package searchparam

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/fhirpath"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// Registry holds the search parameters of every R4 resource type, their
// expressions compiled. It is immutable once loaded and safe for
// concurrent use.
type Registry struct {
	types       map[string]*typeParams
	common      map[string]*param // parameters of every type (base Resource)
	unsupported []Unsupported
	basePrefix  string // "https://example.org/fhir/", or "" when no base is set
}

var _ search.Params = (*Registry)(nil)

// Def is a supported parameter of a resource type, as the
// CapabilityStatement lists it.
type Def struct {
	Code          string
	Definition    string // canonical URL of the SearchParameter
	Type          fhir.ParamType
	Documentation string
}

// Unsupported is a parameter of the specification that the registry
// leaves out, and why. Base is the resource type it was defined on
// (Resource or DomainResource for those of every type).
type Unsupported struct {
	Code   string
	Base   string
	Reason string
}

type typeParams struct {
	list   []*param // sorted by code
	byCode map[string]*param
}

// param is one parameter on one resource type.
type param struct {
	def        Def
	expr       *fhirpath.Expr
	needs      []string // first steps of the expression, nil for always (see firstSteps)
	lookup     search.Param
	components []component
}

type component struct {
	code  string
	typ   fhir.ParamType
	expr  *fhirpath.Expr
	needs []string // first steps from the node, nil for always (see relativeSteps)
}

// Load builds the registry from the SearchParameters embedded in
// conformance.
func Load() (*Registry, error) {
	defs, err := conformance.SearchParameters()
	if err != nil {
		return nil, err
	}
	return build(defs, conformance.ResourceTypes())
}

// WithBaseURL returns a registry that reads absolute references under
// base ("https://example.org/fhir") as relative ones, as the query parser
// does with the same base. The compiled tables are shared.
func (r *Registry) WithBaseURL(base string) *Registry {
	c := *r
	c.basePrefix = ""
	if base = strings.TrimRight(base, "/"); base != "" {
		c.basePrefix = base + "/"
	}
	return &c
}

// Lookup finds a parameter of a resource type; with resourceType "" only
// the parameters of every resource type (_id, _lastUpdated, _tag, …).
// Unsupported parameters are not found.
func (r *Registry) Lookup(resourceType, code string) (search.Param, bool) {
	var p *param
	if resourceType == "" {
		p = r.common[code]
	} else if tp := r.types[resourceType]; tp != nil {
		p = tp.byCode[code]
	}
	if p == nil {
		return search.Param{}, false
	}
	return p.lookup, true
}

// Params lists the supported parameters of a resource type, sorted by
// code; nil for a type the registry does not know.
func (r *Registry) Params(resourceType string) []Def {
	tp := r.types[resourceType]
	if tp == nil {
		return nil
	}
	out := make([]Def, len(tp.list))
	for i, p := range tp.list {
		out[i] = p.def
	}
	return out
}

// Unsupported lists the parameters left out, with the reason, sorted by
// base and code. Every parameter of the specification is either found by
// Lookup on each of its base types or listed here.
func (r *Registry) Unsupported() []Unsupported {
	return slices.Clone(r.unsupported)
}

// reasons for leaving a parameter out, by URL; the rest are found by rule
// in build.
var leftOut = map[string]string{
	"http://hl7.org/fhir/SearchParameter/DomainResource-text": "full-text search of the narrative is not offered",
	"http://hl7.org/fhir/SearchParameter/Resource-content":    "full-text search of the whole resource is not offered",
	"http://hl7.org/fhir/SearchParameter/Resource-query":      "no named queries are defined",
	"http://hl7.org/fhir/SearchParameter/Bundle-composition":  "its expression selects a resource inside the Bundle, not a reference to one stored here",
	"http://hl7.org/fhir/SearchParameter/Bundle-message":      "its expression selects a resource inside the Bundle, not a reference to one stored here",
}

// componentFixes corrects published composite definitions whose component
// expressions do not fit the components' types. R4's
// DocumentReference-relationship pairs relatesto (a reference) with "code"
// and relation (a token) with "target"; later FHIR versions swap them back.
var componentFixes = map[string][]string{
	"http://hl7.org/fhir/SearchParameter/DocumentReference-relationship": {"target", "code"},
}

type builder struct {
	byURL    map[string]conformance.SearchParameterDef
	compiled map[string]*fhirpath.Expr
	errs     map[string]error
}

func build(defs []conformance.SearchParameterDef, resourceTypes []string) (*Registry, error) {
	b := &builder{
		byURL:    make(map[string]conformance.SearchParameterDef, len(defs)),
		compiled: map[string]*fhirpath.Expr{},
		errs:     map[string]error{},
	}
	for _, d := range defs {
		b.byURL[d.URL] = d
	}
	r := &Registry{types: map[string]*typeParams{}, common: map[string]*param{}}
	for _, t := range resourceTypes {
		r.types[t] = &typeParams{byCode: map[string]*param{}}
	}
	domain := func(t string) bool { return t != "Bundle" && t != "Binary" && t != "Parameters" }
	for _, d := range defs {
		for _, base := range d.Base {
			var types []string
			switch base {
			case "Resource":
				types = resourceTypes
			case "DomainResource":
				types = slices.DeleteFunc(slices.Clone(resourceTypes), func(t string) bool { return !domain(t) })
			default:
				if _, ok := r.types[base]; !ok {
					return nil, fmt.Errorf("searchparam: %s: base %s is not a resource type", d.URL, base)
				}
				types = []string{base}
			}
			if reason := b.reason(d); reason != "" {
				r.unsupported = append(r.unsupported, Unsupported{Code: d.Code, Base: base, Reason: reason})
				continue
			}
			p, err := b.param(d, base)
			if err != nil {
				r.unsupported = append(r.unsupported, Unsupported{Code: d.Code, Base: base, Reason: err.Error()})
				continue
			}
			for _, t := range types {
				tp := r.types[t]
				if _, dup := tp.byCode[d.Code]; dup {
					return nil, fmt.Errorf("searchparam: %s: %s defined twice", t, d.Code)
				}
				tp.byCode[d.Code] = p
			}
			if base == "Resource" {
				r.common[d.Code] = p
			}
		}
	}
	for _, tp := range r.types {
		for _, p := range tp.byCode {
			tp.list = append(tp.list, p)
		}
		sort.Slice(tp.list, func(i, j int) bool { return tp.list[i].def.Code < tp.list[j].def.Code })
	}
	sort.Slice(r.unsupported, func(i, j int) bool {
		a, c := r.unsupported[i], r.unsupported[j]
		if a.Base != c.Base {
			return a.Base < c.Base
		}
		return a.Code < c.Code
	})
	return r, nil
}

// reason says why a definition is left out on every base, "" if it is not.
func (b *builder) reason(d conformance.SearchParameterDef) string {
	if r, ok := leftOut[d.URL]; ok {
		return r
	}
	switch {
	case d.Type == string(fhir.TypeSpecial):
		return "special parameter (" + d.Code + "): matching by distance is not implemented"
	case d.XPathUsage == "phonetic":
		return "phonetic matching is not implemented; the name parameters match by prefix"
	case d.Expression == "":
		return "the definition has no expression"
	}
	return ""
}

// param builds the parameter of definition d on one base.
func (b *builder) param(d conformance.SearchParameterDef, base string) (*param, error) {
	typ := fhir.ParamType(d.Type)
	src := branchesFor(d.Expression, base)
	expr, err := b.compile(src)
	if err != nil {
		return nil, err
	}
	p := &param{
		def: Def{
			Code:          d.Code,
			Definition:    d.URL,
			Type:          typ,
			Documentation: d.Documentation(base),
		},
		expr:   expr,
		needs:  firstSteps(src),
		lookup: search.Param{Code: d.Code, Type: typ, Targets: slices.Clone(d.Target)},
	}
	fix := componentFixes[d.URL]
	for i, c := range d.Component {
		if i < len(fix) {
			c.Expression = fix[i]
		}
		cd := b.byURL[c.Definition]
		if cd.URL == "" {
			return nil, fmt.Errorf("component %s is not defined", c.Definition)
		}
		ct := fhir.ParamType(cd.Type)
		if ct == fhir.TypeComposite || ct == fhir.TypeSpecial {
			return nil, fmt.Errorf("component %s is of type %s", cd.Code, ct)
		}
		ce, err := b.compile(c.Expression)
		if err != nil {
			return nil, err
		}
		p.components = append(p.components, component{code: cd.Code, typ: ct, expr: ce, needs: relativeSteps(c.Expression)})
		p.lookup.Components = append(p.lookup.Components, search.Param{Code: cd.Code, Type: ct, Targets: slices.Clone(cd.Target)})
	}
	if typ == fhir.TypeComposite && len(p.components) == 0 {
		return nil, fmt.Errorf("composite without components")
	}
	return p, nil
}

func (b *builder) compile(src string) (*fhirpath.Expr, error) {
	if e, ok := b.compiled[src]; ok {
		return e, nil
	}
	if err, ok := b.errs[src]; ok {
		return nil, err
	}
	e, err := fhirpath.Compile(src)
	if err != nil {
		err = fmt.Errorf("expression does not compile: %v", err)
		b.errs[src] = err
		return nil, err
	}
	b.compiled[src] = e
	return e, nil
}

// branchesFor keeps, of a union expression, the branches rooted at base (or
// at Resource / DomainResource). When the expression is not a plain union
// of paths it is returned whole: its other roots yield nothing anyway.
func branchesFor(expr, base string) string {
	branches := splitUnion(expr)
	if len(branches) < 2 {
		return expr
	}
	var kept []string
	for _, br := range branches {
		root, ok := rootOf(br)
		if !ok {
			return expr
		}
		if root == base || root == "Resource" || root == "DomainResource" {
			kept = append(kept, br)
		}
	}
	if len(kept) == 0 {
		return expr
	}
	return strings.Join(kept, " | ")
}

// splitUnion splits an expression at the '|' outside parentheses and
// quotes. It answers nil when a branch holds white space outside
// parentheses: an operator that may bind looser than '|' (`a = b | c`).
func splitUnion(expr string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case depth == 0 && c == '|':
			out = append(out, strings.TrimSpace(expr[start:i]))
			start = i + 1
		case depth == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			// Only the spaces around '|' are allowed at the top level.
			if !spaceAroundBar(expr, i) {
				return nil
			}
		}
	}
	out = append(out, strings.TrimSpace(expr[start:]))
	return out
}

// spaceAroundBar reports whether the white space at i is next to a '|',
// looking past other white space.
func spaceAroundBar(s string, i int) bool {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for j := i; j >= 0 && (isSpace(s[j]) || s[j] == '|'); j-- {
		if s[j] == '|' {
			return true
		}
	}
	for j := i; j < len(s) && (isSpace(s[j]) || s[j] == '|'); j++ {
		if s[j] == '|' {
			return true
		}
	}
	return false
}

// rootOf returns the type name a branch starts with ("Observation" for
// "(Observation.value as Quantity)"), false when it starts otherwise.
func rootOf(branch string) (string, bool) {
	s := strings.TrimLeft(branch, "( ")
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
		end++
	}
	if end == 0 || s[0] < 'A' || s[0] > 'Z' {
		return "", false
	}
	if end < len(s) && s[end] != '.' && s[end] != ' ' && s[end] != ')' {
		return "", false
	}
	return s[:end], true
}

// ReferenceParams lists the codes of the reference parameters of a
// resource type (what _revinclude=Type:* follows).
func (r *Registry) ReferenceParams(resourceType string) []string {
	var out []string
	for _, d := range r.Params(resourceType) {
		if d.Type == fhir.TypeReference {
			out = append(out, d.Code)
		}
	}
	return out
}
