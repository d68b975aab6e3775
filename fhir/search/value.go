package search

import (
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// values reads one alternative (item, still escaped) of a parameter of
// type typ. A bare id on a reference parameter gives one value per target
// type; every other item gives one value.
func (p *parser) values(typ fhir.ParamType, targets []string, components []Param, mod, item string) ([]fhir.Value, error) {
	switch typ {
	case fhir.TypeString:
		s := Unescape(item)
		if mod != "exact" {
			s = Fold(s)
		}
		if s == "" {
			return nil, invalid("empty value")
		}
		return []fhir.Value{{Code: s}}, nil
	case fhir.TypeToken:
		v, err := token(mod, item)
		return []fhir.Value{v}, err
	case fhir.TypeReference:
		if mod == "identifier" {
			v, err := token("", item)
			return []fhir.Value{v}, err
		}
		return p.reference(targets, Unescape(item))
	case fhir.TypeURI:
		return []fhir.Value{{Code: Unescape(item)}}, nil
	case fhir.TypeDate:
		v, err := p.date(item)
		return []fhir.Value{v}, err
	case fhir.TypeNumber:
		v, err := number(item)
		return []fhir.Value{v}, err
	case fhir.TypeQuantity:
		v, err := quantity(item)
		return []fhir.Value{v}, err
	case fhir.TypeComposite:
		v, err := p.composite(components, item)
		return []fhir.Value{v}, err
	}
	return nil, unsupported("%s parameters are not supported", typ)
}

// token reads "code", "system|code", "|code" and "system|"; with :text the
// whole value folded, with :of-type "system|code|value".
func token(mod, item string) (fhir.Value, error) {
	if mod == "text" {
		s := Fold(Unescape(item))
		if s == "" {
			return fhir.Value{}, invalid("empty value")
		}
		return fhir.Value{Code: s}, nil
	}
	parts := SplitEscaped(item, '|')
	for i := range parts {
		parts[i] = Unescape(parts[i])
	}
	if mod == "of-type" {
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return fhir.Value{}, invalid(":of-type takes system|code|value")
		}
		return fhir.Value{System: parts[0], Code: parts[1], Text: parts[2]}, nil
	}
	switch len(parts) {
	case 1:
		return fhir.Value{AnySystem: true, Code: parts[0]}, nil
	case 2:
		if parts[0] == "" && parts[1] == "" {
			return fhir.Value{}, invalid("empty value")
		}
		return fhir.Value{System: parts[0], Code: parts[1]}, nil
	}
	return fhir.Value{}, invalid("a token has at most one '|' (system|code)")
}

// reference reads "Type/id", a bare id, an absolute URL (under this
// server's base: read as Type/id; elsewhere: kept as written).
func (p *parser) reference(targets []string, s string) ([]fhir.Value, error) {
	if base := p.opts.BaseURL; base != "" && strings.HasPrefix(s, base+"/") {
		s = s[len(base)+1:]
	} else if strings.Contains(s, ":") {
		// Neither an id nor a type name holds a colon: a URL or URN.
		return []fhir.Value{{Code: s}}, nil
	}
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i] // versions are not indexed
	}
	if typ, id, ok := strings.Cut(s, "/"); ok {
		if !fhir.ValidTypeName(typ) || !fhir.ValidID(id) {
			return nil, invalid("not a reference (Type/id, id or URL)")
		}
		if len(targets) > 0 && !slices.Contains(targets, typ) {
			return nil, invalid("the parameter cannot refer to that type")
		}
		return []fhir.Value{{System: typ, Code: s}}, nil
	}
	if !fhir.ValidID(s) {
		return nil, invalid("not a reference (Type/id, id or URL)")
	}
	if len(targets) == 0 {
		// Any type: an id alone, matched against every local reference.
		return []fhir.Value{{AnySystem: true, Code: s}}, nil
	}
	vs := make([]fhir.Value, len(targets))
	for i, t := range targets {
		vs[i] = fhir.Value{System: t, Code: t + "/" + s}
	}
	return vs, nil
}

var prefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}

// prefix splits a comparison prefix off a date, number or quantity.
func prefix(s string) (string, string, error) {
	if len(s) >= 2 && isLetter(s[0]) && isLetter(s[1]) {
		if !slices.Contains(prefixes, s[:2]) {
			return "", "", invalid("unknown prefix (eq ne gt lt ge le sa eb ap)")
		}
		if len(s) == 2 {
			return "", "", invalid("a prefix without a value")
		}
		return s[:2], s[2:], nil
	}
	return "", s, nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// date reads "[prefix]date" of any precision into Unix milliseconds.
func (p *parser) date(item string) (fhir.Value, error) {
	pre, s, err := prefix(Unescape(item))
	if err != nil {
		return fhir.Value{}, err
	}
	// A '+' of a time zone written unencoded in the URL arrives as a space;
	// a date holds no space otherwise.
	s = strings.Replace(s, " ", "+", 1)
	start, end, err := fhir.ParseDateRange(s)
	if err != nil {
		return fhir.Value{}, invalid("not a valid date")
	}
	// Whole milliseconds covering the range: a start rounded down, an end
	// rounded up (ParseDateRange keeps sub-millisecond precision).
	lo, hi := start.UnixMilli(), end.UnixMilli()
	if end.Nanosecond()%int(time.Millisecond) != 0 {
		hi++
	}
	v := fhir.Value{Prefix: pre, Low: float64(lo), High: float64(hi)}
	if pre == "ap" {
		now := float64(p.opts.Now.UnixMilli())
		v.Approx = max(math.Abs(now-(v.Low+v.High)/2)/10, v.High-v.Low)
	}
	return v, nil
}

var numberPattern = regexp.MustCompile(`^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,4}))?$`)

// number reads "[prefix]decimal". The range is the value's precision: half
// a unit of its last significant digit either side (100 covers
// [99.5, 100.5), 1.5 [1.45, 1.55), 1e2 [50, 150)).
func number(item string) (fhir.Value, error) {
	pre, s, err := prefix(Unescape(item))
	if err != nil {
		return fhir.Value{}, err
	}
	lo, hi, val, err := decimalRange(s)
	if err != nil {
		return fhir.Value{}, err
	}
	v := fhir.Value{Prefix: pre, Low: lo, High: hi}
	if pre == "ap" {
		v.Approx = max(math.Abs(val)/10, hi-lo)
	}
	return v, nil
}

func decimalRange(s string) (lo, hi, val float64, err error) {
	m := numberPattern.FindStringSubmatch(s)
	bad := invalid("not a number")
	if m == nil {
		return 0, 0, 0, bad
	}
	exp := 0
	if m[4] != "" {
		exp, _ = strconv.Atoi(m[4])
	}
	scale := exp - len(m[3]) - 1 // of the digits with one more appended
	d, _ := new(big.Int).SetString(m[2]+m[3]+"0", 10)
	five := big.NewInt(5)
	below := new(big.Int).Sub(d, five).String()
	above := new(big.Int).Add(d, five).String()
	e := "e" + strconv.Itoa(scale)
	if lo, err = strconv.ParseFloat(below+e, 64); err != nil {
		return 0, 0, 0, bad
	}
	if hi, err = strconv.ParseFloat(above+e, 64); err != nil {
		return 0, 0, 0, bad
	}
	if val, err = strconv.ParseFloat(s, 64); err != nil {
		return 0, 0, 0, bad
	}
	if m[1] == "-" {
		lo, hi = -hi, -lo
	}
	if lo == hi {
		// More digits than a float64 holds: the narrowest range around it.
		lo, hi = math.Nextafter(lo, math.Inf(-1)), math.Nextafter(hi, math.Inf(1))
	}
	return lo, hi, val, nil
}

// quantity reads "[prefix]value", "[prefix]value|system|code" and
// "[prefix]value||code".
func quantity(item string) (fhir.Value, error) {
	parts := SplitEscaped(item, '|')
	var system, code string
	switch len(parts) {
	case 1:
	case 3:
		system, code = Unescape(parts[1]), Unescape(parts[2])
		if code == "" && system != "" {
			return fhir.Value{}, invalid("a quantity with a system needs a unit code")
		}
	default:
		return fhir.Value{}, invalid("a quantity is value, value|system|code or value||code")
	}
	v, err := number(parts[0])
	v.System, v.Code = system, code
	return v, err
}

// composite reads "part$part" with one part per component, in order.
func (p *parser) composite(components []Param, item string) (fhir.Value, error) {
	parts := SplitEscaped(item, '$')
	if len(parts) != len(components) {
		return fhir.Value{}, invalid("a composite value has %d parts separated by '$'", len(components))
	}
	v := fhir.Value{Parts: make([]fhir.Value, len(parts))}
	for i, c := range components {
		if parts[i] == "" {
			return fhir.Value{}, invalid("empty part in a composite value")
		}
		if c.Type == fhir.TypeComposite {
			return fhir.Value{}, unsupported("nested composite parameters are not supported")
		}
		vs, err := p.values(c.Type, c.Targets, nil, "", parts[i])
		if err != nil {
			return fhir.Value{}, err
		}
		if len(vs) != 1 {
			return fhir.Value{}, invalid("a reference part must be Type/id")
		}
		v.Parts[i] = vs[0]
	}
	return v, nil
}

// SplitEscaped splits s at each sep not escaped by a backslash (FHIR
// search escaping). The parts keep their escapes, so that they can be split
// again on another separator.
func SplitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// Unescape removes the backslash of "\,", "\|", "\$" and "\\"; any other
// backslash stays.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`,|$\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
