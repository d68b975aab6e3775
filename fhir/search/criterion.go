package search

import (
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// criterion reads one occurrence of a selecting parameter into out. known
// is false when the parameter (or, for a chain or _has, its end) is not
// one the server supports.
func (p *parser) criterion(out *Parsed, typ, key, value string, depth int) (known bool, err error) {
	if depth > maxDepth {
		return true, invalid("chains and _has nest too deeply")
	}
	if value == "" {
		return true, invalid("empty value")
	}
	if key == "_has" || strings.HasPrefix(key, "_has:") {
		return p.has(out, typ, key, value, depth)
	}
	name, tail, chained := strings.Cut(key, ".")
	code, mod, _ := strings.Cut(name, ":")
	if resultParams[code] {
		return true, invalid("%s cannot be used inside a chain or _has", code)
	}
	if code == "_id" && !chained {
		return true, p.ids(out, mod, value)
	}
	prm, ok := p.lookup(typ, code)
	if !ok || prm.Type == fhir.TypeSpecial {
		return false, nil
	}
	if chained {
		return p.chain(out, prm, mod, tail, value, depth)
	}
	c, err := p.clause(prm, mod, value)
	if err != nil || c == nil {
		return c != nil, err
	}
	out.Query.Clauses = append(out.Query.Clauses, *c)
	return true, nil
}

// ids reads "_id=a,b". Repeated _id parameters intersect.
func (p *parser) ids(out *Parsed, mod, value string) error {
	if mod != "" {
		return invalid("unknown modifier")
	}
	var ids []string
	for _, item := range SplitEscaped(value, ',') {
		id := Unescape(item)
		if !fhir.ValidID(id) {
			return invalid("not a valid id")
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if out.Query.IDs != nil {
		ids = slices.DeleteFunc(ids, func(id string) bool { return !slices.Contains(out.Query.IDs, id) })
		if len(ids) == 0 {
			ids = []string{""}
		}
	}
	out.Query.IDs = ids
	return nil
}

// chain reads "subject:Patient.name=smith" once the reference parameter
// (prm, with modifier mod) is known; tail is what follows the first dot.
func (p *parser) chain(out *Parsed, prm Param, mod, tail, value string, depth int) (bool, error) {
	if prm.Type != fhir.TypeReference {
		return true, invalid("only a reference parameter can be chained")
	}
	if tail == "" {
		return true, invalid("nothing after the chain's dot")
	}
	var targets []string
	switch {
	case isTypeName(mod):
		if len(prm.Targets) > 0 && !slices.Contains(prm.Targets, mod) {
			return true, invalid("the parameter cannot refer to that type")
		}
		targets = []string{mod}
	case mod != "":
		return true, invalid("only a type modifier may come before a chain")
	case len(prm.Targets) == 0:
		return true, invalid("the parameter may refer to any type: name one with a type modifier (%s:Type.parameter)", prm.Code)
	default:
		targets = prm.Targets
	}
	ch := Chain{Param: prm.Code}
	for _, t := range targets {
		inner := innerQuery(t)
		known, err := p.criterion(inner, t, tail, value, depth+1)
		if err != nil {
			return true, err
		}
		if known {
			ch.Targets = append(ch.Targets, inner)
		}
	}
	if len(ch.Targets) == 0 {
		return false, nil
	}
	out.Chains = append(out.Chains, ch)
	return true, nil
}

// has reads "_has:Observation:patient:code=1234-5" (the part after the
// third colon may itself be a chain or another _has).
func (p *parser) has(out *Parsed, typ, key, value string, depth int) (bool, error) {
	parts := strings.SplitN(key, ":", 4)
	if len(parts) < 4 || parts[2] == "" || parts[3] == "" {
		return true, invalid("must be _has:Type:reference-parameter:parameter")
	}
	src, code, rest := parts[1], parts[2], parts[3]
	if !fhir.ValidTypeName(src) {
		return true, invalid("not a resource type")
	}
	prm, ok := p.lookup(src, code)
	if !ok {
		return false, nil
	}
	if prm.Type != fhir.TypeReference {
		return true, invalid("_has needs a reference parameter")
	}
	if typ != "" && len(prm.Targets) > 0 && !slices.Contains(prm.Targets, typ) {
		return true, invalid("%s.%s cannot refer to %s", src, code, typ)
	}
	inner := innerQuery(src)
	known, err := p.criterion(inner, src, rest, value, depth+1)
	if err != nil || !known {
		return known, err
	}
	out.Has = append(out.Has, Has{Param: prm.Code, Inner: inner})
	return true, nil
}

// lookup finds a parameter, its Code filled in when Params left it empty.
func (p *parser) lookup(typ, code string) (Param, bool) {
	prm, ok := p.params.Lookup(typ, code)
	if prm.Code == "" {
		prm.Code = code
	}
	return prm, ok
}

func innerQuery(typ string) *Parsed {
	return &Parsed{Query: fhir.Query{Type: typ}}
}

// isTypeName tells a reference's type modifier ("subject:Patient") from
// the other modifiers, which are lower case.
func isTypeName(mod string) bool { return fhir.ValidTypeName(mod) }

// modifiers lists, per type, the modifiers Parse understands and those R4
// defines that the server does not implement.
var modifiers = map[fhir.ParamType]struct{ known, unsupported []string }{
	fhir.TypeString:    {known: []string{"", "exact", "contains"}},
	fhir.TypeToken:     {known: []string{"", "text", "not", "of-type"}, unsupported: []string{"in", "not-in", "above", "below"}},
	fhir.TypeReference: {known: []string{"", "identifier"}, unsupported: []string{"above", "below"}},
	fhir.TypeURI:       {known: []string{"", "above", "below"}},
	fhir.TypeDate:      {known: []string{""}},
	fhir.TypeNumber:    {known: []string{""}},
	fhir.TypeQuantity:  {known: []string{""}},
	fhir.TypeComposite: {known: []string{""}},
}

// clause reads one occurrence of a parameter: modifier, then the
// comma-separated alternatives. A nil clause without error means the
// parameter's type is not supported.
func (p *parser) clause(prm Param, mod, value string) (*fhir.Clause, error) {
	m, ok := modifiers[prm.Type]
	if !ok || (prm.Type == fhir.TypeComposite && len(prm.Components) == 0) {
		return nil, nil
	}
	c := &fhir.Clause{Param: prm.Code, Type: prm.Type}
	if mod == "missing" {
		switch value {
		case "true", "false":
			b := value == "true"
			c.Missing = &b
			return c, nil
		}
		return nil, invalid(":missing takes true or false")
	}
	targets := prm.Targets
	switch {
	case prm.Type == fhir.TypeReference && isTypeName(mod):
		if len(targets) > 0 && !slices.Contains(targets, mod) {
			return nil, invalid("the parameter cannot refer to that type")
		}
		targets, mod = []string{mod}, ""
	case slices.Contains(m.unsupported, mod):
		return nil, unsupported("the :%s modifier is not supported", mod)
	case !slices.Contains(m.known, mod):
		return nil, invalid("unknown modifier for a %s parameter", prm.Type)
	}
	c.Modifier = mod
	for _, item := range SplitEscaped(value, ',') {
		if item == "" {
			return nil, invalid("empty value")
		}
		vs, err := p.values(prm.Type, targets, prm.Components, mod, item)
		if err != nil {
			return nil, err
		}
		c.Values = append(c.Values, vs...)
	}
	return c, nil
}
