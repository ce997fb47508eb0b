package event

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendUnescaped appends to dst the contents of a JSON string, raw being what lies
// between its quotes, with its escapes decoded. A \u escape of half a
// surrogate pair that has no other half becomes U+FFFD, as in Go's
// encoding/json; other bytes, invalid UTF-8 included, are kept as they are.
// ok is false when raw has an invalid escape.
func AppendUnescaped(dst, raw []byte) (out []byte, ok bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, next, ok := decodeUnicodeEscape(raw, i)
			if !ok {
				return dst, false
			}
			dst = utf8.AppendRune(dst, r)
			i = next
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// decodeUnicodeEscape decodes the \uXXXX escape at raw[i:], joining a
// surrogate pair written as two escapes, and returns the position after
// what it used.
func decodeUnicodeEscape(raw []byte, i int) (r rune, next int, ok bool) {
	r, ok = hexRune(raw, i+2)
	if !ok {
		return 0, 0, false
	}
	next = i + 6
	if !utf16.IsSurrogate(r) {
		return r, next, true
	}
	if next+1 < len(raw) && raw[next] == '\\' && raw[next+1] == 'u' {
		if low, ok := hexRune(raw, next+2); ok {
			if pair := utf16.DecodeRune(r, low); pair != unicode.ReplacementChar {
				return pair, next + 6, true
			}
		}
	}
	return unicode.ReplacementChar, next, true
}

// hexRune reads four hex digits at raw[i:].
func hexRune(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
