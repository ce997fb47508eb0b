package event

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Limits on an event's data. The scanner checks them in the same single
// pass that checks the syntax, so that hostile data costs no more than
// reading it once.
const (
	// MaxDataSize is the largest data object accepted, in bytes.
	MaxDataSize = 256 << 10
	// MaxDepth is how deeply objects and arrays may nest; the data object
	// itself is level 1. Real payloads nest less than 10 levels.
	MaxDepth = 32
	// MaxKeyLength bounds an object key, in bytes as written.
	MaxKeyLength = 256
	// MaxStringLength bounds a string value, in bytes as written.
	MaxStringLength = 64 << 10
	// MaxNumberLength bounds a number literal, in characters: enough for
	// any 128-bit integer or exact decimal, short enough that comparing
	// numbers exactly stays cheap.
	MaxNumberLength = 128
)

// Reasons of the problems the scanner finds, beside invalid_<field>.
const (
	ReasonTooLarge      = "too_large"
	ReasonTooDeep       = "too_deep"
	ReasonTooLong       = "too_long"
	ReasonDuplicateKey  = "duplicate_key"
	ReasonInvalidUTF8   = "invalid_utf8"
	ReasonInexactNumber = "inexact_number"
)

// limits are the bounds a scan checks: dataLimits for event data, or
// none for JSON whose caller bounds it otherwise.
type limits struct {
	depth, key, str, number int
}

var (
	dataLimits = limits{depth: MaxDepth, key: MaxKeyLength, str: MaxStringLength, number: MaxNumberLength}
	noLimits   = limits{depth: math.MaxInt, key: math.MaxInt, str: math.MaxInt, number: math.MaxInt}
)

// linearKeys is how many keys of one object are compared one by one to
// find a duplicate; larger objects index their keys' hashes in a map, so
// that an object of many keys costs linear time, not quadratic.
const linearKeys = 32

// scanner checks JSON in one pass: syntax as RFC 8259 defines it, plus
// valid UTF-8 (I-JSON, RFC 7493: no lone surrogates either), no key twice
// in one object, and its limits. It never builds the values, and it
// allocates only for objects of more than linearKeys keys and for error
// messages.
type scanner struct {
	buf []byte
	pos int
	lim limits
	// root names what the scanner is in, for errors: "data", "body" or an
	// attribute. Syntax errors name syntaxRoot, what buf holds.
	root, syntaxRoot string
	// path is where the scanner is, for error messages; path[i] belongs to
	// the container at depth i+1.
	path []step
	// keys holds the keys of every object being scanned, innermost last.
	keys []keyRef
	seed maphash.Seed
	err  *FieldError
	// inKey is set while a key is scanned, for error messages.
	inKey bool

	// pathSpace and keySpace back path and keys for small data, so that
	// scanning a typical event allocates nothing.
	pathSpace [8]step
	keySpace  [linearKeys]keyRef
}

// step is one level of the scanner's path: an object's current key, or an
// array's current index.
type step struct {
	key     []byte
	inArray bool
	index   int
}

// keyRef is a key seen in an object being scanned.
type keyRef struct {
	raw     []byte
	hash    uint64
	escaped bool
}

// plain marks the bytes a string may hold as they are: printable ASCII
// other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanners keeps scanners between uses: a scanner is too large to live on
// the stack, and allocating one per event would cost more than scanning a
// small event.
var scanners = sync.Pool{New: func() any { return new(scanner) }}

// getScanner returns a scanner ready to scan buf, which holds root ("data"
// or "body"), within dataLimits. Hand it back with putScanner.
func getScanner(buf []byte, root string) *scanner {
	s := scanners.Get().(*scanner)
	s.buf, s.pos, s.root, s.syntaxRoot = buf, 0, root, root
	s.lim = dataLimits
	s.seed = maphash.MakeSeed()
	s.path = s.pathSpace[:0]
	s.keys = s.keySpace[:0]
	s.err = nil
	return s
}

// putScanner hands s back, keeping none of the bytes it scanned.
func putScanner(s *scanner) {
	s.buf, s.err = nil, nil
	clear(s.keySpace[:])
	clear(s.pathSpace[:])
	scanners.Put(s)
}

// ValidateData checks that data is one JSON object within the limits above
// (MaxDataSize, MaxDepth, MaxKeyLength, MaxStringLength, MaxNumberLength),
// in valid UTF-8 and without a key twice in any object at any depth. It
// reads data once. Numbers are not converted, so data forwarded as it is
// keeps every digit. Errors are *FieldError values naming the place in
// data, such as data.user.tags[2].
func ValidateData(data []byte) error {
	if len(data) == 0 {
		return fieldErr("data", "is required")
	}
	if len(data) > MaxDataSize {
		return codedErr("data", ReasonTooLarge, "must be at most %d bytes", MaxDataSize)
	}
	s := getScanner(data, "data")
	defer putScanner(s)
	s.skipSpace()
	if s.pos == len(data) || data[s.pos] != '{' {
		return fieldErr("data", "must be a JSON object")
	}
	if !s.object(1) || !s.end() {
		return s.err
	}
	return nil
}

// CheckJSON checks that raw is one JSON value in valid UTF-8, without a
// lone surrogate or a key twice in any object at any depth, as ValidateData
// checks data, but within none of the limits on data: the caller bounds
// raw's size and nesting, which also bound how deep the check recurses. It
// returns nil when raw passes, or a *FieldError naming the place under root,
// such as root.all[1] for an object with a key twice.
func CheckJSON(raw []byte, root string) *FieldError {
	s := getScanner(raw, root)
	defer putScanner(s)
	s.lim = noLimits
	if !s.value(0) || !s.end() {
		return s.err
	}
	return nil
}

// end checks that nothing but white space follows the value scanned.
func (s *scanner) end() bool {
	s.skipSpace()
	if s.pos != len(s.buf) {
		return s.fail(fieldErr(s.syntaxRoot, "must hold exactly one JSON object"))
	}
	return true
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// fail records err and returns false, so that callers can return it.
func (s *scanner) fail(err *FieldError) bool {
	s.err = err
	return false
}

// syntaxError reports the byte at s.pos as unexpected.
func (s *scanner) syntaxError() bool {
	if s.pos >= len(s.buf) {
		return s.fail(fieldErr(s.syntaxRoot, "is truncated JSON"))
	}
	return s.fail(fieldErr(s.syntaxRoot, "is not valid JSON at byte %d", s.pos+1))
}

// problem reports a problem at the scanner's path.
func (s *scanner) problem(reason, format string, args ...any) bool {
	return s.fail(codedErr(s.where(), reason, format, args...))
}

// stringProblem reports a problem with the string being scanned, which may
// be a key.
func (s *scanner) stringProblem(reason, problem string) bool {
	if s.inKey {
		problem = "has a key that " + problem
	}
	return s.problem(reason, "%s", problem)
}

// value scans one JSON value at depth, the depth of its container.
func (s *scanner) value(depth int) bool {
	s.skipSpace()
	if s.pos == len(s.buf) {
		return s.syntaxError()
	}
	switch c := s.buf[s.pos]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, ok := s.str(s.lim.str)
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.syntaxError()
}

// object scans the object at s.pos, which is at depth.
func (s *scanner) object(depth int) bool {
	if depth > s.lim.depth {
		return s.problem(ReasonTooDeep, "nests deeper than %d levels", s.lim.depth)
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.buf) && s.buf[s.pos] == '}' {
		s.pos++
		return true
	}

	s.path = append(s.path, step{})
	firstKey := len(s.keys)
	var index map[uint64]int
	for {
		s.skipSpace()
		if s.pos == len(s.buf) || s.buf[s.pos] != '"' {
			return s.syntaxError()
		}
		s.path[len(s.path)-1].key = nil
		key, ok := s.key()
		if !ok {
			return false
		}
		if index, ok = s.addKey(key, firstKey, index); !ok {
			return false
		}
		s.path[len(s.path)-1].key = key.raw

		if !s.colon() || !s.value(depth) {
			return false
		}
		more, ok := s.separator('}')
		if !ok {
			return false
		}
		if !more {
			s.path = s.path[:len(s.path)-1]
			s.keys = s.keys[:firstKey]
			return true
		}
	}
}

// colon reads the colon after an object's key.
func (s *scanner) colon() bool {
	s.skipSpace()
	if s.pos == len(s.buf) || s.buf[s.pos] != ':' {
		return s.syntaxError()
	}
	s.pos++
	return true
}

// separator reads what follows a member or an element: a comma, after
// which another comes (more), or closer, which ends the container.
func (s *scanner) separator(closer byte) (more, ok bool) {
	s.skipSpace()
	if s.pos == len(s.buf) {
		return false, s.syntaxError()
	}
	switch s.buf[s.pos] {
	case ',':
		s.pos++
		return true, true
	case closer:
		s.pos++
		return false, true
	}
	return false, s.syntaxError()
}

// key scans an object key and hashes it as decoded, so that "a" and
// "\u0061" count as the same key.
func (s *scanner) key() (keyRef, bool) {
	s.inKey = true
	raw, escaped, ok := s.str(-1)
	s.inKey = false
	if !ok {
		return keyRef{}, false
	}
	if len(raw) > s.lim.key {
		return keyRef{}, s.problem(ReasonTooLong, "has a key longer than %d bytes", s.lim.key)
	}
	decoded := raw
	if escaped {
		decoded = unescape(raw)
	}
	return keyRef{raw: raw, escaped: escaped, hash: maphash.Bytes(s.seed, decoded)}, true
}

// addKey adds key to the keys of the object whose first key is at
// s.keys[first], and fails when the object already has it. index maps the
// hashes of a large object's keys to their place in s.keys; addKey builds it
// when the object grows past linearKeys and returns it.
func (s *scanner) addKey(key keyRef, first int, index map[uint64]int) (map[uint64]int, bool) {
	if index == nil {
		for _, k := range s.keys[first:] {
			if k.hash == key.hash && sameKey(k, key) {
				return nil, s.duplicate(key)
			}
		}
		if len(s.keys)-first == linearKeys {
			index = make(map[uint64]int, 2*linearKeys)
			for i, k := range s.keys[first:] {
				index[k.hash] = first + i
			}
		}
	} else if i, found := index[key.hash]; found {
		if sameKey(s.keys[i], key) {
			return index, s.duplicate(key)
		}
		// Two keys with one hash: rare enough to look at each key.
		for _, k := range s.keys[first:] {
			if sameKey(k, key) {
				return index, s.duplicate(key)
			}
		}
	}
	if index != nil {
		if _, taken := index[key.hash]; !taken {
			index[key.hash] = len(s.keys)
		}
	}
	s.keys = append(s.keys, key)
	return index, true
}

func (s *scanner) duplicate(key keyRef) bool {
	return s.problem(ReasonDuplicateKey, "has the key %s twice", quoteKey(key.raw))
}

// sameKey compares two keys as decoded.
func sameKey(a, b keyRef) bool {
	if !a.escaped && !b.escaped {
		return bytes.Equal(a.raw, b.raw)
	}
	x, y := a.raw, b.raw
	if a.escaped {
		x = unescape(a.raw)
	}
	if b.escaped {
		y = unescape(b.raw)
	}
	return bytes.Equal(x, y)
}

// array scans the array at s.pos, which is at depth.
func (s *scanner) array(depth int) bool {
	if depth > s.lim.depth {
		return s.problem(ReasonTooDeep, "nests deeper than %d levels", s.lim.depth)
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.buf) && s.buf[s.pos] == ']' {
		s.pos++
		return true
	}

	s.path = append(s.path, step{inArray: true})
	for i := 0; ; i++ {
		s.path[len(s.path)-1].index = i
		if !s.value(depth) {
			return false
		}
		more, ok := s.separator(']')
		if !ok {
			return false
		}
		if !more {
			s.path = s.path[:len(s.path)-1]
			return true
		}
	}
}

// str scans the string at s.pos and returns what its quotes hold and
// whether that has escapes. A string longer than limit bytes (unless limit
// is negative) is a problem.
func (s *scanner) str(limit int) (raw []byte, escaped, ok bool) {
	buf := s.buf
	start := s.pos + 1
	i := start
	for i < len(buf) {
		c := buf[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			raw = buf[start:i]
			if limit >= 0 && len(raw) > limit {
				return nil, false, s.problem(ReasonTooLong, "is a string longer than %d bytes", limit)
			}
			return raw, escaped, true
		case c == '\\':
			escaped = true
			n, good := s.escape(i)
			if !good {
				return nil, false, false
			}
			i += n
		case c < 0x20:
			s.pos = i
			return nil, false, s.syntaxError()
		default:
			r, size := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, s.stringProblem(ReasonInvalidUTF8, "is not valid UTF-8")
			}
			i += size
		}
	}
	s.pos = len(buf)
	return nil, false, s.syntaxError()
}

// escape checks the escape sequence at buf[i] and returns its length.
func (s *scanner) escape(i int) (int, bool) {
	buf := s.buf
	if i+1 >= len(buf) {
		s.pos = len(buf)
		return 0, s.syntaxError()
	}
	switch buf[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
	default:
		s.pos = i + 1
		return 0, s.syntaxError()
	}

	r, ok := s.hex4(i + 2)
	if !ok {
		return 0, false
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, s.stringProblem(ReasonInvalidUTF8, fmt.Sprintf("holds a lone surrogate \\u%04X", r))
	case r < 0xD800 || r > 0xDBFF:
		return 6, true
	}
	// A high surrogate must be followed by a low one.
	if i+7 < len(buf) && buf[i+6] == '\\' && buf[i+7] == 'u' {
		low, ok := s.hex4(i + 8)
		if !ok {
			return 0, false
		}
		if low >= 0xDC00 && low <= 0xDFFF {
			return 12, true
		}
	}
	return 0, s.stringProblem(ReasonInvalidUTF8, fmt.Sprintf("holds a lone surrogate \\u%04X", r))
}

// hex4 reads the four hex digits at s.buf[i:].
func (s *scanner) hex4(i int) (rune, bool) {
	r, ok := hexRune(s.buf, i)
	if !ok {
		s.pos = min(i, len(s.buf))
		return 0, s.syntaxError()
	}
	return r, true
}

// number scans a number literal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	buf := s.buf
	start := s.pos
	i := start
	if buf[i] == '-' {
		i++
	}
	switch {
	case i < len(buf) && buf[i] == '0':
		i++
	case i < len(buf) && buf[i] >= '1' && buf[i] <= '9':
		i = digits(buf, i)
	default:
		s.pos = i
		return s.syntaxError()
	}
	if i < len(buf) && buf[i] == '.' {
		if i++; i == len(buf) || !isDigit(buf[i]) {
			s.pos = i
			return s.syntaxError()
		}
		i = digits(buf, i)
	}
	if i < len(buf) && (buf[i] == 'e' || buf[i] == 'E') {
		i++
		if i < len(buf) && (buf[i] == '+' || buf[i] == '-') {
			i++
		}
		if i == len(buf) || !isDigit(buf[i]) {
			s.pos = i
			return s.syntaxError()
		}
		i = digits(buf, i)
	}
	s.pos = i
	if i-start > s.lim.number {
		return s.problem(ReasonTooLong, "is a number longer than %d characters", s.lim.number)
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits returns the index of the first byte from i on that is no digit.
func digits(buf []byte, i int) int {
	for i < len(buf) && isDigit(buf[i]) {
		i++
	}
	return i
}

func (s *scanner) literal(word string) bool {
	if !bytes.HasPrefix(s.buf[s.pos:], []byte(word)) {
		return s.syntaxError()
	}
	s.pos += len(word)
	return true
}

// where names the scanner's place: its root and the path in it, such as
// data.user.tags[2].
func (s *scanner) where() string {
	b := []byte(s.root)
	for _, st := range s.path {
		if !st.inArray && st.key == nil {
			// An object whose key is being scanned.
			break
		}
		if st.inArray {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(st.index), 10)
			b = append(b, ']')
			continue
		}
		key := unescape(st.key)
		if simpleKey(key) {
			b = append(b, '.')
			b = append(b, key...)
		} else {
			b = append(b, '[')
			b = append(b, quoteKey(st.key)...)
			b = append(b, ']')
		}
	}
	return string(b)
}

// simpleKey reports whether key can stand in a dotted path as it is.
func simpleKey(key []byte) bool {
	if len(key) == 0 || len(key) > 64 {
		return false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// quoteKey quotes a raw key for an error message, cut to 64 bytes.
func quoteKey(raw []byte) string {
	key := unescape(raw)
	if len(key) > 64 {
		key = append(key[:61:61], "..."...)
	}
	return strconv.Quote(string(key))
}

// unescape decodes the escapes of a scanned string, which the scanner has
// checked.
func unescape(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	out, _ := AppendUnescaped(make([]byte, 0, len(raw)), raw)
	return out
}
