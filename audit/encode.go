package audit

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Encoding the structs canonically.
//
// prepare needs each top-level member of an AuditEvent in canonical form
// (chain.go, step 4). Marshalling the struct and reading the JSON back
// (canonicalMembers) was most of the work of recording an event; the
// encoders here write the canonical form straight from the Go values,
// through a plan made once per type: struct fields sorted by their JSON
// names, omitempty as encoding/json applies it, json.Marshaler values
// (the models' code enums, json.RawMessage) through their own
// MarshalJSON. The result is byte for byte appendCanonical of what
// encoding/json writes (the tests fill every field of the models to check
// it). What the plans do not cover (maps, floats, interfaces, embedded
// fields, invalid UTF-8) answers errNoPlan, and prepare takes the long way.

var errNoPlan = errors.New("audit: no canonical plan")

// encoder appends the canonical form of v.
type encoder func(dst []byte, v reflect.Value) ([]byte, error)

var (
	encoders      sync.Map // reflect.Type → encoder
	marshalerType = reflect.TypeFor[json.Marshaler]()
	numberType    = reflect.TypeFor[json.Number]()
)

// encoderOf returns the encoder of t, made once. A type that contains
// itself (Extension) gets, while its encoder is being made, one that
// waits for it, as encoding/json does.
func encoderOf(t reflect.Type) encoder {
	if e, ok := encoders.Load(t); ok {
		return e.(encoder)
	}
	var (
		wg sync.WaitGroup
		f  encoder
	)
	wg.Add(1)
	e, loaded := encoders.LoadOrStore(t, encoder(func(dst []byte, v reflect.Value) ([]byte, error) {
		wg.Wait()
		return f(dst, v)
	}))
	if loaded {
		return e.(encoder)
	}
	f = newEncoder(t)
	wg.Done()
	encoders.Store(t, f)
	return f
}

func noPlan([]byte, reflect.Value) ([]byte, error) { return nil, errNoPlan }

func newEncoder(t reflect.Type) encoder {
	if t.Kind() != reflect.Pointer && t.Implements(marshalerType) {
		return marshalerEncoder
	}
	if reflect.PointerTo(t).Implements(marshalerType) {
		return noPlan // encoding/json calls it only where addressable
	}
	if t == numberType {
		return numberEncoder
	}
	switch t.Kind() {
	case reflect.String:
		return stringEncoder
	case reflect.Bool:
		return boolEncoder
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intEncoder
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return uintEncoder
	case reflect.Pointer:
		return pointerEncoder(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return noPlan // base64
		}
		return sliceEncoder(t)
	case reflect.Struct:
		p, err := planOf(t)
		if err != nil {
			return noPlan
		}
		return p.encode
	}
	return noPlan
}

func marshalerEncoder(dst []byte, v reflect.Value) ([]byte, error) {
	b, err := v.Interface().(json.Marshaler).MarshalJSON()
	if err != nil {
		return nil, err
	}
	return appendCanonical(dst, b)
}

func numberEncoder(dst []byte, v reflect.Value) ([]byte, error) {
	s := v.String()
	if s == "" {
		s = "0" // as encoding/json writes it
	}
	if c := s[0]; c != '-' && (c < '0' || c > '9') {
		return nil, errNoPlan
	}
	return appendCanonical(dst, []byte(s))
}

func stringEncoder(dst []byte, v reflect.Value) ([]byte, error) {
	s := v.String()
	if !utf8.ValidString(s) {
		return nil, errNoPlan
	}
	return appendJSONString(dst, s), nil
}

func boolEncoder(dst []byte, v reflect.Value) ([]byte, error) {
	return strconv.AppendBool(dst, v.Bool()), nil
}

func intEncoder(dst []byte, v reflect.Value) ([]byte, error) {
	return strconv.AppendInt(dst, v.Int(), 10), nil
}

func uintEncoder(dst []byte, v reflect.Value) ([]byte, error) {
	return strconv.AppendUint(dst, v.Uint(), 10), nil
}

func pointerEncoder(t reflect.Type) encoder {
	elem := encoderOf(t.Elem())
	return func(dst []byte, v reflect.Value) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		return elem(dst, v.Elem())
	}
}

func sliceEncoder(t reflect.Type) encoder {
	elem := encoderOf(t.Elem())
	return func(dst []byte, v reflect.Value) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = elem(dst, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
}

// plan is how a struct is written: its fields in name order.
type plan struct {
	fields []planField
}

type planField struct {
	name      string
	key       []byte // the name, quoted, and ':'
	index     int
	omitEmpty bool
	enc       encoder
}

var plans sync.Map // reflect.Type → *plan

func planOf(t reflect.Type) (*plan, error) {
	if p, ok := plans.Load(t); ok {
		return p.(*plan), nil
	}
	p := &plan{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil, errNoPlan
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		pf := planField{name: name, index: i}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "omitempty":
				pf.omitEmpty = true
			case "":
			default:
				return nil, errNoPlan // string, omitzero: not used by the models
			}
		}
		pf.key = append(appendJSONString(nil, name), ':')
		p.fields = append(p.fields, pf)
	}
	slices.SortFunc(p.fields, func(a, b planField) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(p.fields); i++ {
		if p.fields[i].name == p.fields[i-1].name {
			return nil, errNoPlan
		}
	}
	for i := range p.fields {
		p.fields[i].enc = encoderOf(t.Field(p.fields[i].index).Type)
	}
	got, _ := plans.LoadOrStore(t, p)
	return got.(*plan), nil
}

func (p *plan) encode(dst []byte, v reflect.Value) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for i := range p.fields {
		f := &p.fields[i]
		fv := v.Field(f.index)
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, f.key...)
		var err error
		if dst, err = f.enc(dst, fv); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// isEmpty is encoding/json's test for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// auditEventMembers writes the members of r (resourceType included, as
// its MarshalJSON adds it) in canonical form, sorted by name, appended to
// ms, their values appended to buf (both given empty, to be reused):
// what canonicalMembers reads from its JSON.
func auditEventMembers(r *models.AuditEvent, ms []member, buf []byte) ([]member, []byte, error) {
	p, err := planOf(reflect.TypeFor[models.AuditEvent]())
	if err != nil {
		return nil, nil, err
	}
	v := reflect.ValueOf(r).Elem()
	typed := false
	addType := func() {
		start := len(buf)
		buf = append(buf, `"AuditEvent"`...)
		ms = append(ms, member{name: "resourceType", start: start, end: len(buf)})
		typed = true
	}
	for i := range p.fields {
		f := &p.fields[i]
		if !typed && f.name > "resourceType" {
			addType()
		}
		fv := v.Field(f.index)
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		start := len(buf)
		if buf, err = f.enc(buf, fv); err != nil {
			return nil, nil, err
		}
		ms = append(ms, member{name: f.name, start: start, end: len(buf)})
	}
	if !typed {
		addType()
	}
	return ms, buf, nil
}

// canonicalMeta writes m in canonical form.
func canonicalMeta(m *models.Meta) ([]byte, error) {
	return encoderOf(reflect.TypeFor[models.Meta]())(nil, reflect.ValueOf(m).Elem())
}
