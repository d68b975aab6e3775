package fhir

import (
	"strings"
	"testing"
	"time"
)

func TestParseObjectNamesTheOffset(t *testing.T) {
	for _, bad := range []string{`{"a":1,}`, `{"a":`, `{"a":1} x`, `nul`} {
		_, err := ParseObject([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), "offset") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := ParseObject([]byte(`[1]`)); err == nil {
		t.Error("an array is not a resource")
	}
}

func TestStampKeepsEverythingElse(t *testing.T) {
	o, err := ParseObject([]byte(`{"resourceType":"Observation","meta":{"tag":[{"code":"x"}],"versionId":"9"},"valueQuantity":{"value":1.50},"x":1e2,"note":[{"text":"<b> & \u00e9"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Stamp(o, "abc", 2, time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)); err != nil {
		t.Fatal(err)
	}
	got := string(o.Bytes())
	for _, want := range []string{`"id":"abc"`, `"versionId":"2"`, `"lastUpdated":"2026-01-02T03:04:05.006Z"`, `"tag":[{"code":"x"}]`, `"value":1.50`, `"x":1e2`, `"<b> & \u00e9"`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	if !strings.HasPrefix(got, `{"resourceType":"Observation","id":"abc","meta":`) {
		t.Errorf("resourceType, id and meta come first: %s", got)
	}
	if err := Stamp(Object{"meta": []byte(`42`)}, "a", 1, time.Now()); err == nil {
		t.Error("a meta that is not an object must be refused")
	}
}

func TestIdentifiers(t *testing.T) {
	o, _ := ParseObject([]byte(`{"identifier":[{"system":"s","value":"1"},{"value":"2"},{"system":"s"}]}`))
	toks := Identifiers(o)
	if len(toks) != 2 || toks[0] != (Token{"identifier", "s", "1"}) || toks[1] != (Token{"identifier", "", "2"}) {
		t.Errorf("%v", toks)
	}
	o, _ = ParseObject([]byte(`{"identifier":{"system":"s","value":"one"}}`))
	if toks := Identifiers(o); len(toks) != 1 {
		t.Errorf("single identifier: %v", toks)
	}
}

func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err    *Error
		status int
	}{
		{ErrNotFound, 404}, {ErrVersionConflict, 409}, {ErrUnavailable, 503},
		{Errorf(CodeRequired, "x"), 422}, {Errorf(CodeStructure, "x"), 400},
		{&Error{Code: CodeNotSupported, Status: 406}, 406}, {AsError(errString("boom")), 500},
	} {
		if got := tc.err.HTTPStatus(); got != tc.status {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.status)
		}
	}
	if oo := string(OperationOutcome(AsError(errString("secret detail")))); strings.Contains(oo, "secret") {
		t.Errorf("an internal cause leaked: %s", oo)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// FuzzParseObject: any input either is refused with an Error or parses into
// an object whose written form is valid JSON that parses to the same members.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{`{"resourceType":"Patient","_birthDate":{"extension":[]},"x":1.50}`, `{}`, `{"a":[1,{"b":null}]}`, `{"a":"\u00e9<"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseObject(b)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		out := o.Bytes()
		again, err := ParseObject(out)
		if err != nil {
			t.Fatalf("written form does not parse: %s", out)
		}
		if len(again) != len(o) {
			t.Fatalf("members changed: %d → %d", len(o), len(again))
		}
		_ = Stamp(again, "x", 1, time.Now())
	})
}
