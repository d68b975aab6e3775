package search

import "testing"

func TestFold(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"lower case", "SMITH", "smith"},
		{"acute accent removed", "Smíth", "smith"},
		{"decomposed accent removed", "Smi\u0301th", "smith"},
		{"several accents", "Ångström Çelik Müller", "angstrom celik muller"},
		{"dotted capital I", "İlhan", "ilhan"},
		{"white space collapsed", "Mary \t\n  Ann", "mary ann"},
		{"white space trimmed", "  smith\u00a0 ", "smith"},
		{"only white space", " \t ", ""},
		{"empty", "", ""},
		{"letters without decomposition kept", "Øster Straße", "øster straße"},
		{"greek", "Ωμέγα", "ωμεγα"},
		{"digits and punctuation kept", "O'Brien-2", "o'brien-2"},
		{"invalid UTF-8 replaced", "a\xff\xfeb", "a\ufffdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fold(tt.in); got != tt.want {
				t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
