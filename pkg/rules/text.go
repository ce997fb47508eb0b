package rules

import (
	"unicode"
	"unicode/utf8"
)

// equalFold reports whether s and t are equal under simple Unicode case
// folding, like strings.EqualFold, except that a byte that is not valid
// UTF-8 only equals the same byte: two different invalid bytes are not
// equal by way of U+FFFD.
func equalFold(s []byte, t string) bool {
	for len(s) > 0 && len(t) > 0 {
		if s[0] < utf8.RuneSelf && t[0] < utf8.RuneSelf {
			if lowerASCII(s[0]) != lowerASCII(t[0]) {
				return false
			}
			s, t = s[1:], t[1:]
			continue
		}
		sr, sn := utf8.DecodeRune(s)
		tr, tn := utf8.DecodeRuneInString(t)
		if (sr == utf8.RuneError && sn == 1) || (tr == utf8.RuneError && tn == 1) {
			if sn != tn || s[0] != t[0] {
				return false
			}
		} else if !foldEqual(sr, tr) {
			return false
		}
		s, t = s[sn:], t[tn:]
	}
	return len(s) == len(t)
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldEqual reports whether r and u are in the same simple case-folding
// orbit.
func foldEqual(r, u rune) bool {
	if r == u {
		return true
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f == u {
			return true
		}
	}
	return false
}
