package rules

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on a field path, checked when a condition is parsed.
const (
	MaxPathBytes    = 512
	MaxPathSegments = 32
)

// A fieldPath is a condition's field split into its segments, with the
// escapes removed: `labels.app\.kubernetes\.io/name` is "labels" and
// "app.kubernetes.io/name".
type fieldPath []string

// parsePath splits a field into segments. A dot separates segments; `\.`
// is a dot inside a segment and `\\` a backslash. Empty segments and other
// escapes are refused.
func parsePath(field string) (fieldPath, error) {
	if field == "" {
		return nil, errors.New("must be a non-empty string")
	}
	if len(field) > MaxPathBytes {
		return nil, fmt.Errorf("is longer than %d bytes", MaxPathBytes)
	}
	var segments fieldPath
	var seg strings.Builder
	for i := 0; i < len(field); i++ {
		c := field[i]
		switch c {
		case '.':
			if seg.Len() == 0 {
				return nil, fmt.Errorf("%q has an empty segment", field)
			}
			segments = append(segments, seg.String())
			seg.Reset()
		case '\\':
			if i+1 == len(field) || (field[i+1] != '.' && field[i+1] != '\\') {
				return nil, fmt.Errorf(`%q has a backslash that is not \. or \\`, field)
			}
			i++
			seg.WriteByte(field[i])
		default:
			seg.WriteByte(c)
		}
	}
	if seg.Len() == 0 {
		return nil, fmt.Errorf("%q has an empty segment", field)
	}
	segments = append(segments, seg.String())
	if len(segments) > MaxPathSegments {
		return nil, fmt.Errorf("%q has more than %d segments", field, MaxPathSegments)
	}
	return segments, nil
}

// arrayIndex returns the segment as an array index, or -1 when it is not
// all ASCII digits or too large to be an index.
func arrayIndex(segment string) int {
	if segment == "" || len(segment) > 9 {
		return -1
	}
	n := 0
	for i := 0; i < len(segment); i++ {
		c := segment[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// isDigits reports whether segment is all ASCII digits. Such a segment
// indexes an array (when it is small enough) and never applies to the
// elements of one.
func isDigits(segment string) bool {
	for i := 0; i < len(segment); i++ {
		if segment[i] < '0' || segment[i] > '9' {
			return false
		}
	}
	return segment != ""
}
