package rules

// The functions here move through raw JSON without decoding it. Each takes
// a position in data and returns the position after what it skipped, or -1
// when data ends early or is not JSON there. They never read outside data,
// whatever it holds, and they do not validate what they skip: the
// rule-engine checks that event data is valid JSON before evaluating it.

// byteClass tells the skipping loops which bytes matter.
var byteClass = [256]uint8{
	'"': classQuote,
	'{': classOpen, '[': classOpen,
	'}': classClose, ']': classClose,
	'\\': classEscape,
	' ':  classSpace, '\t': classSpace, '\n': classSpace, '\r': classSpace,
	',': classEnd, ':': classEnd,
}

const (
	classOther uint8 = iota
	classQuote
	classOpen
	classClose
	classEscape
	classSpace
	classEnd
)

// stringStop marks the bytes that end a run of plain string contents.
var stringStop = [256]bool{'"': true, '\\': true}

// skipSpace skips JSON whitespace.
func skipSpace(data []byte, pos int) int {
	for pos < len(data) && byteClass[data[pos]] == classSpace {
		pos++
	}
	return pos
}

// skipString skips the rest of a string whose opening quote is just before
// pos, and reports whether it held an escape.
func skipString(data []byte, pos int) (end int, escaped bool) {
	for {
		// Four bytes a round: strings are most of a JSON document.
		for pos+4 <= len(data) {
			if stringStop[data[pos]] {
				break
			}
			if stringStop[data[pos+1]] {
				pos++
				break
			}
			if stringStop[data[pos+2]] {
				pos += 2
				break
			}
			if stringStop[data[pos+3]] {
				pos += 3
				break
			}
			pos += 4
		}
		for pos < len(data) && !stringStop[data[pos]] {
			pos++
		}
		if pos >= len(data) {
			return -1, escaped
		}
		if data[pos] == '"' {
			return pos + 1, escaped
		}
		escaped = true
		pos += 2
	}
}

// skipContainer skips the rest of depth nested objects or arrays: 1 to
// skip the rest of the one pos is inside of.
func skipContainer(data []byte, pos, depth int) int {
	for pos < len(data) {
		c := data[pos]
		pos++
		switch byteClass[c] {
		case classQuote:
			pos, _ = skipString(data, pos)
			if pos < 0 {
				return -1
			}
		case classOpen:
			depth++
		case classClose:
			depth--
			if depth == 0 {
				return pos
			}
		}
	}
	return -1
}

// skipValue skips the value that starts at pos.
func skipValue(data []byte, pos int) int {
	if pos >= len(data) {
		return -1
	}
	switch byteClass[data[pos]] {
	case classQuote:
		end, _ := skipString(data, pos+1)
		return end
	case classOpen:
		return skipContainer(data, pos+1, 1)
	case classOther:
		return skipScalar(data, pos)
	default:
		return -1
	}
}

// skipScalar skips a number or a literal (true, false, null): everything
// up to the next delimiter.
func skipScalar(data []byte, pos int) int {
	start := pos
	for pos < len(data) && byteClass[data[pos]] == classOther {
		pos++
	}
	if pos == start {
		return -1
	}
	return pos
}
