package rest_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLosslessRoundTrip sends every resource of testdata/roundtrip and
// checks that read, vread and history return exactly what was sent, plus
// the server's id and meta (key order may differ; numbers keep their text).
func TestLosslessRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../../testdata/roundtrip/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	each(t, func(t *testing.T, s *server) {
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				sent, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				typ := typeOf(t, string(sent))
				r := s.do("POST", "/fhir/"+typ, string(sent))
				wantStatus(t, r, http.StatusCreated)
				id := r.json(t)["id"].(string)
				want := expected(t, sent, r.body)
				for _, path := range []string{"/fhir/" + typ + "/" + id, "/fhir/" + typ + "/" + id + "/_history/1"} {
					got := s.do("GET", path, "")
					wantStatus(t, got, http.StatusOK)
					if !sameJSON(got.body, want) {
						t.Errorf("%s changed the resource:\n got %s\nwant %s", path, got.body, want)
					}
				}
				h := s.do("GET", "/fhir/"+typ+"/"+id+"/_history", "")
				if !containsJSON(h.body, want) {
					t.Errorf("history entry differs from what was sent")
				}
				for _, lit := range []string{"13.50", "1.2e1", "1e2", "0.000100", "12345678901234567890.123456789", "175.0", "3.0"} {
					if strings.Contains(string(sent), lit) && !strings.Contains(string(got(s, "/fhir/"+typ+"/"+id)), lit) {
						t.Errorf("decimal %s lost its text", lit)
					}
				}
			})
		}
	})
}

func got(s *server, path string) []byte { return s.do("GET", path, "").body }

// expected is what was sent with the server's id and meta elements added.
func expected(t *testing.T, sent, created []byte) []byte {
	var in, out map[string]json.RawMessage
	if err := json.Unmarshal(sent, &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(created, &out); err != nil {
		t.Fatal(err)
	}
	in["id"] = out["id"]
	var meta map[string]json.RawMessage
	if m, ok := in["meta"]; ok {
		json.Unmarshal(m, &meta)
	} else {
		meta = map[string]json.RawMessage{}
	}
	var outMeta map[string]json.RawMessage
	json.Unmarshal(out["meta"], &outMeta)
	meta["versionId"], meta["lastUpdated"] = outMeta["versionId"], outMeta["lastUpdated"]
	in["meta"], _ = json.Marshal(meta)
	b, _ := json.Marshal(in)
	return b
}

// containsJSON reports whether the Bundle body holds want as an entry
// resource (compared with numbers kept as text).
func containsJSON(bundle, want []byte) bool {
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(bundle, &b) != nil {
		return false
	}
	for _, e := range b.Entry {
		if sameJSON(e.Resource, want) {
			return true
		}
	}
	return false
}
