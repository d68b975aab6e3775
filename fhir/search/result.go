package search

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// resultParams are the parameters that shape the result rather than select
// resources; they are allowed only at the top level.
var resultParams = map[string]bool{
	"_count": true, "_offset": true, "_sort": true, "_summary": true,
	"_elements": true, "_total": true, "_type": true, "_include": true,
	"_revinclude": true, "_format": true, "_pretty": true,
}

var elementPattern = regexp.MustCompile(`^([A-Z][A-Za-z]*\.)?[a-z][A-Za-z0-9_]*$`)

// result reads a result parameter; ok is false when key is not one.
func (p *parser) result(out *Parsed, key string, vals []string) (ok bool, err error) {
	code, mod, _ := strings.Cut(key, ":")
	if !resultParams[code] {
		return false, nil
	}
	if mod != "" && !((code == "_include" || code == "_revinclude") && (mod == "iterate" || mod == "recurse")) {
		return true, invalid("unknown modifier")
	}
	for _, v := range vals {
		if v == "" {
			return true, invalid("empty value")
		}
	}
	switch code {
	case "_format", "_pretty":
		return true, nil // the HTTP layer's
	case "_include", "_revinclude":
		for _, v := range vals {
			inc, err := p.include(v)
			if err != nil {
				return true, err
			}
			inc.Iterate = mod != ""
			if code == "_include" {
				out.Include = append(out.Include, inc)
			} else {
				out.RevInclude = append(out.RevInclude, inc)
			}
		}
		return true, nil
	case "_elements", "_type":
		for _, v := range vals {
			for _, item := range SplitEscaped(v, ',') {
				item = Unescape(item)
				if code == "_type" {
					if !fhir.ValidTypeName(item) {
						return true, invalid("not a resource type")
					}
					out.Types = append(out.Types, item)
				} else {
					if !elementPattern.MatchString(item) {
						return true, invalid("not an element name")
					}
					out.Elements = append(out.Elements, item)
				}
			}
		}
		return true, nil
	}
	if len(vals) > 1 {
		return true, invalid("given more than once")
	}
	v := vals[0]
	switch code {
	case "_count":
		n, err := strconv.Atoi(v)
		if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
			n, err = MaxCount, nil // more digits than an int holds
		}
		if err != nil || n < 0 {
			return true, invalid("not a count (a whole number, 0 or more)")
		}
		out.Count = min(n, MaxCount)
		out.Query.Limit = out.Count
	case "_offset":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return true, invalid("not an offset (a whole number, 0 or more)")
		}
		out.Query.Offset = n
	case "_summary":
		switch v {
		case "true", "text", "data", "count", "false":
			out.Summary = v
		default:
			return true, invalid("must be true, text, data, count or false")
		}
	case "_total":
		switch v {
		case "none", "estimate", "accurate":
			out.Total = v
		default:
			return true, invalid("must be none, estimate or accurate")
		}
	case "_sort":
		return true, p.sort(out, v)
	}
	return true, nil
}

// sort reads "_sort=-date,name".
func (p *parser) sort(out *Parsed, v string) error {
	for _, item := range strings.Split(v, ",") {
		desc := strings.HasPrefix(item, "-")
		code := strings.TrimPrefix(item, "-")
		if code == "" {
			return invalid("empty sort key")
		}
		prm, ok := p.lookup(out.Query.Type, code)
		if !ok {
			return invalid("unknown sort parameter")
		}
		switch prm.Type {
		case fhir.TypeComposite, fhir.TypeSpecial:
			return invalid("cannot sort by a %s parameter", prm.Type)
		}
		out.Query.Sort = append(out.Query.Sort, fhir.SortKey{Param: prm.Code, Type: prm.Type, Desc: desc})
	}
	return nil
}

// include reads "Source:param[:Target]" or "*".
func (p *parser) include(v string) (Include, error) {
	if v == "*" {
		return Include{Source: "*", Param: "*"}, nil
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Include{}, invalid("must be Type:parameter or Type:parameter:TargetType")
	}
	inc := Include{Source: parts[0], Param: parts[1]}
	if !fhir.ValidTypeName(inc.Source) {
		return inc, invalid("not a resource type")
	}
	if len(parts) == 3 {
		inc.Target = parts[2]
		if !fhir.ValidTypeName(inc.Target) {
			return inc, invalid("not a resource type")
		}
	}
	if inc.Param == "*" {
		return inc, nil
	}
	prm, ok := p.lookup(inc.Source, inc.Param)
	if !ok || prm.Type != fhir.TypeReference {
		return inc, invalid("not a reference parameter of the type")
	}
	if inc.Target != "" && len(prm.Targets) > 0 && !slices.Contains(prm.Targets, inc.Target) {
		return inc, invalid("the parameter cannot refer to that type")
	}
	return inc, nil
}
