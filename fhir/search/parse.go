package search

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	// DefaultCount is the page size when _count is not given.
	DefaultCount = 20
	// MaxCount caps _count; a larger value is read as MaxCount.
	MaxCount = 1000
	// maxDepth bounds how deeply chains and _has may nest.
	maxDepth = 4
)

// Param is what the parser needs to know about one search parameter.
type Param struct {
	Code string
	Type fhir.ParamType
	// Targets are the resource types a reference parameter may point to;
	// empty means any type.
	Targets []string
	// Components are the parts of a composite parameter, in order; only
	// Type (and Targets, for a reference part) matter.
	Components []Param
}

// Params looks up the search parameters of a resource type. resourceType
// is "" for a search across all types, where only the parameters common to
// every resource should be found. Parameters of type special are treated as
// unsupported.
type Params interface {
	Lookup(resourceType, code string) (Param, bool)
}

// Options are the request-dependent settings of Parse.
type Options struct {
	// Strict refuses unknown or unsupported parameters (Prefer:
	// handling=strict); otherwise they are ignored and listed in
	// Parsed.Unknown.
	Strict bool
	// Now is the time ap on dates measures its distance from; zero means
	// the current time.
	Now time.Time
	// BaseURL is this server's FHIR base ("https://example.org/fhir"):
	// absolute references under it are read as Type/id.
	BaseURL string
}

// Parsed is a search request read into the criteria and settings its parts
// need.
type Parsed struct {
	// Query holds Type, the criteria (Clauses, IDs from _id), Sort, Offset
	// from _offset and Limit. Limit equals Count, so it is 0 both for an
	// inner query (no limit) and for _count=0: check Count.
	//
	// Two _id parameters with no id in common leave IDs holding the single
	// id "", which no resource has.
	Query fhir.Query
	// Count is the page size asked for: DefaultCount when _count is absent,
	// at most MaxCount. 0 asks for the total only; no resource should be
	// read. Inner queries of chains and _has have Count 0 and no limit.
	Count int

	// Chains must all hold, as must Has; see Chain and Has.
	Chains []Chain
	Has    []Has

	Include    []Include
	RevInclude []Include
	Summary    string   // _summary: true, text, data, count, false, or ""
	Elements   []string // _elements
	Total      string   // _total: none, estimate, accurate, or ""
	Types      []string // _type

	// Unknown lists the parameters ignored in lenient mode, as given.
	Unknown []string
}

// Chain is one chained parameter ("subject:Patient.name=smith"). A resource
// matches when its reference parameter Param points to a resource found by
// one of Targets. Targets holds one query per candidate type (its
// Query.Type), usually one: without a type modifier every target type of
// Param that knows the chained parameter is a candidate. The caller runs
// each target query (resolving its own chains and _has first) and adds a
// reference clause on Param whose values are the "Type/id" found; when none
// is found the search has no result.
type Chain struct {
	Param   string
	Targets []*Parsed
}

// Has is one reverse chain ("_has:Observation:patient:code=1234-5"). A
// resource matches when a resource found by Inner (of type
// Inner.Query.Type) points to it through Inner's reference parameter Param.
// The caller runs Inner, collects the Param references of what it finds
// that point to the searched type, and restricts the search to those ids.
type Has struct {
	Param string
	Inner *Parsed
}

// Include is one _include or _revinclude: the resources that resources of
// type Source point to through Param (for _revinclude, the resources of type
// Source pointing to the results through Param), of type Target when set.
// Param "*" stands for every reference parameter of Source, Source "*" for
// every type.
type Include struct {
	Source  string
	Param   string
	Target  string
	Iterate bool
}

// Parse reads the query parameters of a search on resourceType ("" for a
// search across all types). Errors are *fhir.Error: invalid (400) with
// Expression naming the parameter for anything malformed, whether or not
// opts.Strict; not-supported with status 400 for a modifier the server does
// not implement; invalid for an unknown parameter when opts.Strict.
func Parse(resourceType string, values url.Values, params Params, opts Options) (*Parsed, error) {
	p := &parser{params: params, opts: opts}
	if p.opts.Now.IsZero() {
		p.opts.Now = time.Now()
	}
	p.opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	out := &Parsed{Query: fhir.Query{Type: resourceType, Limit: DefaultCount}, Count: DefaultCount}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if err := p.parameter(out, resourceType, key, values[key]); err != nil {
			return nil, named(err, key)
		}
	}
	return out, nil
}

type parser struct {
	params Params
	opts   Options
}

// parameter reads every occurrence of one top-level parameter.
func (p *parser) parameter(out *Parsed, typ, key string, vals []string) error {
	if ok, err := p.result(out, key, vals); ok || err != nil {
		return err
	}
	for _, v := range vals {
		known, err := p.criterion(out, typ, key, v, 0)
		if err != nil {
			return err
		}
		if !known {
			if p.opts.Strict {
				return invalid("unknown or unsupported search parameter")
			}
			out.Unknown = append(out.Unknown, key)
			return nil
		}
	}
	return nil
}

// named puts the parameter into an error built further down.
func named(err error, key string) error {
	fe, ok := err.(*fhir.Error)
	if !ok {
		return err
	}
	e := *fe
	e.Expression = []string{key}
	e.Diagnostics = "search parameter " + quote(key) + ": " + e.Diagnostics
	return &e
}

// quote shows a client-given parameter name in a diagnostic: quoted, and
// cut short when long.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(`"`+strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)+`"`, "?")
}

func invalid(format string, args ...any) *fhir.Error {
	return fhir.Errorf(fhir.CodeInvalid, format, args...)
}

func unsupported(format string, args ...any) *fhir.Error {
	e := fhir.Errorf(fhir.CodeNotSupported, format, args...)
	e.Status = 400
	return e
}
