package search

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Fold is the one normalisation of text for string search and token :text:
// lower case, accents removed (canonical decomposition, then the
// non-spacing marks dropped: "Smíth" becomes "smith"), runs of white space
// collapsed into one space, and no white space at either end. Each run of
// invalid UTF-8 bytes becomes one U+FFFD. Fold(Fold(s)) == Fold(s).
func Fold(s string) string {
	s = norm.NFD.String(strings.ToValidUTF8(s, "\uFFFD"))
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsSpace(r):
			space = b.Len() > 0
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
