package fhirpath

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// searchExpressions reads testdata/search-expressions.txt: every distinct
// expression of the R4 SearchParameters, composite components included.
func searchExpressions(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/search-expressions.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exprs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			exprs = append(exprs, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exprs
}

func TestEverySearchParameterExpressionCompiles(t *testing.T) {
	exprs := searchExpressions(t)
	if len(exprs) != 1363 {
		t.Fatalf("read %d expressions, the file says 1363", len(exprs))
	}
	for _, src := range exprs {
		if _, err := Compile(src); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// Each expression runs without error on a resource of every type it names,
// so that extraction never fails on a well-formed resource.
func TestEverySearchParameterExpressionEvaluates(t *testing.T) {
	for _, src := range searchExpressions(t) {
		e := MustCompile(src)
		for _, typ := range typesNamed(src) {
			res := map[string]any{
				"resourceType": typ, "id": "x",
				"subject": map[string]any{"reference": "Patient/1"},
				"status":  "final",
			}
			if _, err := e.Eval(res); err != nil {
				t.Errorf("on %s: %v", typ, err)
			}
		}
	}
}

// typesNamed returns the capitalised first steps of the paths in an
// expression.
func typesNamed(src string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(src, func(r rune) bool { return strings.ContainsRune(" |()", r) }) {
		if name, _, _ := strings.Cut(f, "."); name != "" && name[0] >= 'A' && name[0] <= 'Z' {
			out = append(out, name)
		}
	}
	return out
}
