package fhirpath

import "strings"

// resolve turns references into pseudo-nodes naming their targets; see the
// package documentation. root is the resource being evaluated, where local
// references (#id) are looked up among the contained resources.
func resolve(root Node, in []Node) []Node {
	var out []Node
	for _, n := range in {
		var ref, typ string
		switch v := n.Value.(type) {
		case string:
			ref = v
		case map[string]any:
			ref, _ = v["reference"].(string)
			typ, _ = v["type"].(string)
		default:
			continue
		}
		if strings.HasPrefix(ref, "#") {
			if t, ok := resolveLocal(root, ref[1:]); ok {
				out = append(out, t)
			}
			continue
		}
		if t, id, ok := parseReference(ref); ok {
			out = append(out, Node{Value: map[string]any{"resourceType": t, "id": id}, Type: t})
		} else if isTypeName(typ) {
			out = append(out, Node{Value: map[string]any{"resourceType": typ}, Type: typ})
		}
	}
	return out
}

// resolveLocal finds a contained resource by id; the empty id is the
// containing resource itself.
func resolveLocal(root Node, id string) (Node, bool) {
	m, ok := root.Value.(map[string]any)
	if !ok {
		return Node{}, false
	}
	if id == "" {
		return root, isResource(root)
	}
	contained, _ := m["contained"].([]any)
	for _, c := range contained {
		r, ok := c.(map[string]any)
		if !ok || r["id"] != id {
			continue
		}
		if rt, _ := r["resourceType"].(string); rt != "" {
			return Node{Value: r, Type: rt, Name: "contained"}, true
		}
	}
	return Node{}, false
}

// parseReference reads the type and id from a relative reference
// (Patient/1, Patient/1/_history/2) or an absolute one
// (https://example.org/fhir/Patient/1), ignoring any query, fragment or
// canonical version (|1.0).
func parseReference(ref string) (typ, id string, ok bool) {
	if ref == "" || strings.HasPrefix(ref, "urn:") {
		return "", "", false
	}
	if i := strings.IndexAny(ref, "?#|"); i >= 0 {
		ref = ref[:i]
	}
	segs := strings.Split(strings.TrimSuffix(ref, "/"), "/")
	if n := len(segs); n >= 4 && segs[n-2] == "_history" {
		segs = segs[:n-2]
	}
	n := len(segs)
	if n < 2 || !isTypeName(segs[n-2]) || !isID(segs[n-1]) {
		return "", "", false
	}
	return segs[n-2], segs[n-1], true
}

// isTypeName reports whether s looks like a resource type: an upper-case
// letter followed by letters.
func isTypeName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !(s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
			return false
		}
	}
	return true
}

// isID reports whether s is a valid FHIR id: 1 to 64 of A-Z a-z 0-9 - .
func isID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
