package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/message"
)

// maxCollected bounds the issues gathered from one body before sorting, so
// that a hostile body cannot make the validator hold millions of them.
const maxCollected = 1000

// fromSchema turns a schema validation error into issues, one per failed
// rule, located at the element that breaks it.
func (is *issues) fromSchema(err error, inst any, root string) {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		is.add([]string{root}, fhir.CodeValue, "does not conform to the R4 JSON schema")
		return
	}
	is.walkSchemaError(ve, inst, root)
}

func (is *issues) walkSchemaError(ve *jsonschema.ValidationError, inst any, root string) {
	if len(is.list) >= maxCollected {
		return
	}
	switch ve.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, c := range ve.Causes {
			is.walkSchemaError(c, inst, root)
		}
		return
	}
	loc := locate(root, inst, ve.InstanceLocation)
	switch k := ve.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			is.add(append(loc, p), fhir.CodeValue, "unknown element")
		}
	case *kind.Required:
		for _, m := range k.Missing {
			is.add(append(loc, m), fhir.CodeRequired, "required element missing")
		}
	case *kind.Type:
		is.add(loc, fhir.CodeValue, typeRule(k))
	case *kind.Pattern:
		prim := primitiveOf(ve.SchemaURL)
		rule := "does not match the format of its type"
		if r, ok := primitiveRules[prim]; ok {
			rule = fmt.Sprintf("not a valid %s (expected %s)", prim, r)
		}
		is.add(loc, fhir.CodeValue, rule)
	case *kind.Enum:
		is.add(loc, fhir.CodeValue, enumRule(k.Want))
	case *kind.Const:
		is.add(loc, fhir.CodeValue, fmt.Sprintf("must be %v", k.Want))
	case *kind.Minimum:
		is.add(loc, fhir.CodeValue, rangeRule(ve.SchemaURL, "less than the minimum", k.Want.RatString()))
	case *kind.Maximum:
		is.add(loc, fhir.CodeValue, rangeRule(ve.SchemaURL, "greater than the maximum", k.Want.RatString()))
	case *resourceTypeError:
		code := fhir.CodeValue
		if k.missing {
			code = fhir.CodeRequired
		}
		is.add(append(loc, "resourceType"), code, k.rule())
	default:
		is.add(loc, fhir.CodeValue, "does not conform to the R4 JSON schema")
	}
}

// locate turns a schema instance location into an issue location: the
// resource type first, array indexes as "[i]". Whether a token is an index
// is read from the instance, as a member may be named "0".
func locate(root string, inst any, tokens []string) []string {
	loc := make([]string, 0, len(tokens)+2)
	loc = append(loc, root)
	cur := inst
	for _, t := range tokens {
		switch c := cur.(type) {
		case []any:
			loc = append(loc, "["+t+"]")
			cur = nil
			if i, err := strconv.Atoi(t); err == nil && i >= 0 && i < len(c) {
				cur = c[i]
			}
		case map[string]any:
			loc = append(loc, t)
			cur = c[t]
		default:
			loc = append(loc, t)
			cur = nil
		}
	}
	return loc
}

func typeRule(k *kind.Type) string {
	var want []string
	for _, w := range k.Want {
		if w != "null" {
			want = append(want, w)
		}
	}
	got := "a " + k.Got
	switch k.Got {
	case "null":
		got = "null"
	case "array", "object", "integer":
		got = "an " + k.Got
	}
	switch {
	case slices.Contains(want, "array"):
		return "must be an array (the element repeats), not " + got
	case k.Got == "array":
		return "must be a single value, not an array (the element does not repeat)"
	case len(want) == 1 && want[0] == "integer" && k.Got == "number":
		return "must be a whole number"
	}
	return "must be a JSON " + strings.Join(want, " or ") + ", not " + got
}

func enumRule(want []any) string {
	var codes []string
	for _, w := range want {
		if s, ok := w.(string); ok {
			codes = append(codes, s)
		}
	}
	if len(codes) > 12 {
		return fmt.Sprintf("not one of the %d codes of its required value set", len(codes))
	}
	return "not one of the codes of its required value set (" + strings.Join(codes, " | ") + ")"
}

func rangeRule(schemaURL, what, limit string) string {
	if prim := primitiveOf(schemaURL); prim != "" {
		return fmt.Sprintf("out of range for %s: %s of %s", prim, what, limit)
	}
	return fmt.Sprintf("out of range: %s of %s", what, limit)
}

// primitiveNames are the R4 primitive types, as the schema names their
// definitions and as choice elements suffix them (valueDateTime).
var primitiveNames = []string{
	"base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
	"instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
	"uri", "url", "uuid", "xhtml",
}

// primitiveRules say in words what each primitive's schema pattern requires.
var primitiveRules = map[string]string{
	"base64Binary": "base64-encoded content",
	"canonical":    "a URI without whitespace",
	"code":         "a non-empty code without leading, trailing or repeated whitespace",
	"date":         "YYYY, YYYY-MM or YYYY-MM-DD with a valid month and day",
	"dateTime":     "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff] with a time zone",
	"id":           "1 to 64 letters, digits, '-' or '.'",
	"instant":      "YYYY-MM-DDThh:mm:ss[.fff] with a time zone",
	"markdown":     "a non-empty string",
	"oid":          "urn:oid: followed by a dotted OID",
	"string":       "a non-empty string without control whitespace other than tab, CR and LF",
	"time":         "hh:mm:ss[.fff]",
	"uri":          "a URI without whitespace",
	"url":          "a URL without whitespace",
	"uuid":         "urn:uuid: followed by a lower-case UUID",
}

// primitiveOf names the primitive type a failing schema stands for: a
// definition ("#/definitions/date", or its null-accepting copy) or an
// inline copy under a choice element ("…/properties/valueDateTime").
func primitiveOf(schemaURL string) string {
	last := schemaURL[strings.LastIndexByte(schemaURL, '/')+1:]
	last = strings.TrimSuffix(last, orNull)
	if slices.Contains(primitiveNames, last) {
		return last
	}
	best := ""
	for _, p := range primitiveNames {
		if strings.HasSuffix(last, strings.ToUpper(p[:1])+p[1:]) && len(p) > len(best) {
			best = p
		}
	}
	return best
}

// nestedResource validates a nested resource (resourceKeyword) against the
// definition of its own resourceType.
type nestedResource struct{ v *Validator }

func (v *Validator) compileResourceKeyword(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
	if on, _ := obj[resourceKeyword].(bool); on {
		return nestedResource{v}, nil
	}
	return nil, nil
}

func (n nestedResource) Validate(ctx *jsonschema.ValidatorContext, val any) {
	obj, ok := val.(map[string]any)
	if !ok {
		return // the "type": "object" beside the keyword reports it
	}
	raw, present := obj["resourceType"]
	rt, _ := raw.(string)
	if !IsResourceType(rt) {
		ctx.AddError(&resourceTypeError{missing: !present})
		return
	}
	sch, err := n.v.schema(rt)
	if err != nil {
		ctx.AddError(&resourceTypeError{err: err})
		return
	}
	if err := ctx.Validate(sch, val, nil); err != nil {
		ctx.AddErr(err)
	}
}

// resourceTypeError is the error kind of a nested resource whose
// resourceType is missing, not a resource type, or (a defect) whose schema
// does not compile.
type resourceTypeError struct {
	missing bool
	err     error
}

func (*resourceTypeError) KeywordPath() []string { return []string{resourceKeyword} }

func (k *resourceTypeError) LocalizedString(*message.Printer) string { return k.rule() }

func (k *resourceTypeError) rule() string {
	switch {
	case k.missing:
		return "a nested resource must have a resourceType"
	case k.err != nil:
		return "the schema of this resource type could not be loaded"
	}
	return "not an R4 resource type"
}
