package rules

import (
	"cmp"
	"math/big"
)

// number is a JSON number as rules compare it: by its exact decimal value,
// never through binary floating point. 1, 1.0 and 10e-1 are equal;
// 9007199254740993 is not 9007199254740992; 0.30000000000000004 is not 0.3.
//
// Most numbers fit the fast form ±mant × 10^exp with at most 19 significant
// digits; the others (longer mantissas, huge exponents) are compared from
// their literal, exactly and more slowly.
type number struct {
	mant   uint64 // significant digits without trailing zeros; 0 for zero
	exp    int64
	digits int64 // decimal digits in mant
	// mag is digits + exp: the value is ±0.mant × 10^mag.
	mag int64
	// frac is mant scaled to 19 digits, so that numbers of the same sign
	// and magnitude compare by frac alone, without scaling either.
	frac  uint64
	sign  int8 // -1, 0 or +1
	neg   bool
	exact bool   // mant and exp hold the value
	lit   []byte // the literal as written
}

// maxFastExponent bounds exponents in the fast form; beyond it a number is
// compared from its literal. Written exponents are read up to ten times
// it, which keeps every sum in range.
const maxFastExponent = 1_000_000_000_000_000

var pow10 = [20]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// parseNumber reads a JSON number literal (RFC 8259 grammar, nothing
// before or after it). ok is false when lit is not one.
func parseNumber(lit []byte) (n number, ok bool) {
	ok = n.parse(lit)
	return n, ok
}

// parse sets n, a zero number, to the literal lit; false when lit is not
// a JSON number.
func (n *number) parse(lit []byte) bool {
	n.lit = lit
	n.exact = true
	i := 0
	if i < len(lit) && lit[i] == '-' {
		n.neg = true
		i++
	}

	var acc digitAccumulator
	start := i
	for i < len(lit) && isDigit(lit[i]) {
		acc.add(lit[i])
		i++
	}
	if i == start || (lit[start] == '0' && i-start > 1) {
		return false
	}
	if i < len(lit) && lit[i] == '.' {
		i++
		fracStart := i
		for i < len(lit) && isDigit(lit[i]) {
			acc.add(lit[i])
			acc.exp--
			i++
		}
		if i == fracStart {
			return false
		}
	}
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		e, next, ok := parseExponent(lit, i+1)
		if !ok {
			return false
		}
		i = next
		acc.exp += e
	}
	if i != len(lit) {
		return false
	}

	n.mant, n.digits = acc.mant, acc.digits
	n.exp = acc.exp + acc.zeros
	if n.mant == 0 {
		n.exp, n.neg, n.digits = 0, false, 0
		return true
	}
	n.mag = n.digits + n.exp
	n.frac = n.mant * pow10[19-n.digits]
	n.sign = 1
	if n.neg {
		n.sign = -1
	}
	// The fast form is canonical: a number that has it equals no number
	// that does not.
	n.exact = !acc.overflow && n.exp >= -maxFastExponent && n.exp <= maxFastExponent
	return true
}

// digitAccumulator gathers significant digits into a uint64, keeping
// trailing zeros aside so that the mantissa has none.
type digitAccumulator struct {
	mant     uint64
	digits   int64
	zeros    int64 // zeros seen after the last non-zero digit
	exp      int64
	overflow bool // more than 19 significant digits
}

func (a *digitAccumulator) add(c byte) {
	d := uint64(c - '0')
	if d == 0 {
		if a.digits > 0 {
			a.zeros++
		}
		return
	}
	if a.overflow || a.digits+a.zeros+1 > 19 {
		a.overflow = true
		// Digits past the 19th still count for the magnitude.
		a.exp += a.zeros + 1
		a.zeros = 0
		return
	}
	a.mant = a.mant*pow10[a.zeros+1] + d
	a.digits += a.zeros + 1
	a.zeros = 0
}

// parseExponent reads [+-]digits at lit[i:], saturating at ten times
// maxFastExponent, and returns the position after it.
func parseExponent(lit []byte, i int) (e int64, next int, ok bool) {
	neg := false
	if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
		neg = lit[i] == '-'
		i++
	}
	start := i
	for i < len(lit) && isDigit(lit[i]) {
		if e < 10*maxFastExponent {
			e = e*10 + int64(lit[i]-'0')
		}
		i++
	}
	if i == start {
		return 0, i, false
	}
	if neg {
		e = -e
	}
	return e, i, true
}

func isDigit(c byte) bool {
	return c >= '0' && c <= '9'
}

// compareNumbers returns -1, 0 or +1 as a is less than, equal to or greater
// than b, exactly.
func compareNumbers(a, b *number) int {
	if !a.exact || !b.exact {
		return compareLiterals(a.lit, b.lit)
	}
	switch {
	case a.sign != b.sign:
		return cmp.Compare(int64(a.sign), int64(b.sign))
	case a.mag != b.mag:
		// Different orders of magnitude: 0.mant × 10^mag.
		return cmp.Compare(a.mag, b.mag) * int(a.sign)
	}
	return compareMantissas(a, b) * int(a.sign)
}

// compareMantissas compares the mantissas of two numbers of the same
// order of magnitude, both in the fast form.
func compareMantissas(a, b *number) int {
	return cmp.Compare(a.frac, b.frac)
}

// numKey identifies a number in the fast form by value, for maps: equal
// numbers have equal keys.
type numKey struct {
	mant uint64
	exp  int64
	neg  bool
}

func (n *number) key() numKey {
	return numKey{mant: n.mant, exp: n.exp, neg: n.neg}
}

// compareLiterals compares two valid JSON number literals exactly, whatever
// their length or exponent. It is the slow path of compareNumbers.
func compareLiterals(a, b []byte) int {
	da, db := splitLiteral(a), splitLiteral(b)
	za, zb := len(da.digits) == 0, len(db.digits) == 0
	switch {
	case za && zb:
		return 0
	case za:
		return signOf(!db.neg) * -1
	case zb:
		return signOf(!da.neg)
	case da.neg != db.neg:
		return signOf(db.neg)
	}
	c := da.compareMagnitude(&db)
	if da.neg {
		return -c
	}
	return c
}

// signOf returns +1 for true and -1 for false.
func signOf(positive bool) int {
	if positive {
		return 1
	}
	return -1
}

// literalParts is a number literal as 0.digits × 10^(point + exponent),
// with digits stripped of leading and trailing zeros.
type literalParts struct {
	neg      bool
	digits   []byte // no dot, no leading or trailing zeros; empty for zero
	point    int64  // where the decimal point sits relative to digits
	exponent []byte // the exponent as written, with its sign; may be empty
}

func splitLiteral(lit []byte) literalParts {
	var p literalParts
	i := 0
	if i < len(lit) && lit[i] == '-' {
		p.neg = true
		i++
	}
	intStart := i
	for i < len(lit) && isDigit(lit[i]) {
		i++
	}
	intPart := lit[intStart:i]
	var frac []byte
	if i < len(lit) && lit[i] == '.' {
		fracStart := i + 1
		i = fracStart
		for i < len(lit) && isDigit(lit[i]) {
			i++
		}
		frac = lit[fracStart:i]
	}
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		p.exponent = lit[i+1:]
	}

	// Leading zeros of the integer part, then of the fraction when the
	// integer part is all zeros, move the point.
	intPart = trimLeft(intPart, '0')
	if len(intPart) > 0 {
		p.digits = trimRight(append(append([]byte{}, intPart...), frac...), '0')
		p.point = int64(len(intPart))
		return p
	}
	significant := trimLeft(frac, '0')
	p.point = -int64(len(frac) - len(significant))
	p.digits = trimRight(significant, '0')
	return p
}

// compareMagnitude compares |p| and |q|, both non-zero.
func (p *literalParts) compareMagnitude(q *literalParts) int {
	if c := magnitude(p).Cmp(magnitude(q)); c != 0 {
		return c
	}
	n := min(len(p.digits), len(q.digits))
	for i := range n {
		if p.digits[i] != q.digits[i] {
			return cmp.Compare(int64(p.digits[i]), int64(q.digits[i]))
		}
	}
	// Neither has trailing zeros: the longer one has more non-zero digits.
	return cmp.Compare(int64(len(p.digits)), int64(len(q.digits)))
}

// magnitude returns point + exponent, exactly, however long the exponent.
func magnitude(p *literalParts) *big.Int {
	m := big.NewInt(p.point)
	if len(p.exponent) == 0 {
		return m
	}
	var e big.Int
	exp := string(p.exponent)
	if exp[0] == '+' {
		exp = exp[1:]
	}
	e.SetString(exp, 10)
	return m.Add(m, &e)
}

func trimLeft(b []byte, c byte) []byte {
	for len(b) > 0 && b[0] == c {
		b = b[1:]
	}
	return b
}

func trimRight(b []byte, c byte) []byte {
	for len(b) > 0 && b[len(b)-1] == c {
		b = b[:len(b)-1]
	}
	return b
}
