package audit

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// referenceCanonical is the definition: decode with UseNumber, encode with
// SetEscapeHTML(false).
func referenceCanonical(src []byte) ([]byte, bool) {
	d := json.NewDecoder(bytes.NewReader(src))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}

func checkCanonical(t *testing.T, src []byte) {
	t.Helper()
	want, valid := referenceCanonical(src)
	got, err := appendCanonical(nil, src)
	switch {
	case valid && err != nil:
		t.Fatalf("%q: refused (%v), encoding/json gives %q", src, err, want)
	case !valid && err == nil:
		t.Fatalf("%q: accepted as %q, encoding/json refuses it", src, got)
	case valid && !bytes.Equal(got, want):
		t.Fatalf("%q:\n got %q\nwant %q", src, got, want)
	}
}

var canonSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.50`, `1e2`, `-1.5E-07`, `12345678901234567890123`, `true`, `null`,
	` { "b" : 1 , "a" : [ 1 , 2 ] } `,
	`{"a":1,"a":2}`, `{"b":{"d":1,"c":2},"a":[{"z":1,"y":2}]}`,
	`"<>&\u2028\u2029\u0000\u001f\b\f\n\r\t\"\\\/"`,
	`"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`,
	"\"\xff\xfe\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "{\"\xff\":1,\"\xfe\":2}",
	`{"é":1,"e":2,"É":3}`, `"\u00e9"`, `"\u00E9"`,
	`01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `nul`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`,
	`"\x"`, `"\u12"`, "\"a\nb\"", `[1] [2]`, `{"a":1}}`, `"abc`, ``, `  `,
}

func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	for _, s := range canonSeeds {
		checkCanonical(t, []byte(s))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		checkCanonical(t, []byte(randomJSON(rng, 0)))
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range canonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { checkCanonical(t, src) })
}

// randomJSON writes a random (valid) JSON value with odd strings, number
// literals, duplicate names and whitespace.
func randomJSON(rng *rand.Rand, depth int) string {
	ws := func() string { return []string{"", "", " ", "\n\t", "\r "}[rng.IntN(5)] }
	switch k := rng.IntN(10); {
	case k < 2 && depth < 4:
		var b strings.Builder
		b.WriteString("{" + ws())
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString("," + ws())
			}
			b.WriteString(randomString(rng) + ws() + ":" + ws() + randomJSON(rng, depth+1))
		}
		return b.String() + ws() + "}"
	case k < 4 && depth < 4:
		var b strings.Builder
		b.WriteString("[" + ws())
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString(ws() + ",")
			}
			b.WriteString(randomJSON(rng, depth+1))
		}
		return b.String() + "]"
	case k < 7:
		return randomString(rng)
	case k < 9:
		return []string{"0", "-0", "1.50", "1e2", "1E+2", "-3.25e-10", "123456789012345678901234567890", "7"}[rng.IntN(8)]
	default:
		return []string{"true", "false", "null"}[rng.IntN(3)]
	}
}

func randomString(rng *rand.Rand) string {
	pieces := []string{"a", "b", "Z", "é", "😀", "<", ">", "&", `\"`, `\\`, `\/`, `\n`, `\t`, `\b`, `\f`, `\u0000`,
		`\u001F`, `\u2028`, "\u2029", `\ud83d\ude00`, `\ud83d`, `\ude00`, `\u00e9`, "\xff", "\xc3", "\x7f", " "}
	var b strings.Builder
	b.WriteByte('"')
	for range rng.IntN(6) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	b.WriteByte('"')
	return b.String()
}
