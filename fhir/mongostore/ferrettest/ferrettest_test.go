package ferrettest

import "testing"

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/x"},
		{"mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/x"},
		{"mongodb://a:1,b:2/old?replicaSet=rs", "mongodb://a:1,b:2/x?replicaSet=rs"},
		{"mongodb+srv://u:p@c.example.net/?retryWrites=true", "mongodb+srv://u:p@c.example.net/x?retryWrites=true"},
	} {
		if got := WithDatabase(tc.in, "x"); got != tc.want {
			t.Errorf("WithDatabase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStartServesAFreshDatabase(t *testing.T) {
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two starts gave the same URI %q", a)
	}
}
