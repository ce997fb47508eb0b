package rules

import (
	"math/big"
	"strings"
	"testing"
)

func TestCompareNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1.0", 0},
		{"1", "1e0", 0},
		{"10e-1", "1", 0},
		{"-0", "0", 0},
		{"0.0e5", "-0e-5", 0},
		{"9007199254740993", "9007199254740992", 1},
		{"18446744073709551616", "18446744073709551615", 1},
		{"123456789012345678901234567890", "1.2345678901234567890123456789e29", 0},
		{"0.30000000000000004", "0.3", 1},
		{"-0.30000000000000004", "-0.3", -1},
		{"1e400", "1e399", 1},
		{"-1e400", "1e-400", -1},
		{"1e1000000000000000000", "1e999999999999999999", 1},
		{"1e-1000000000000000000", "0", 1},
		{"999", "1e3", -1},
		{"1.5", "1.50000000000000000000001", -1},
		{"12", "120e-1", 0},
	}
	for _, tt := range tests {
		a, okA := parseNumber([]byte(tt.a))
		b, okB := parseNumber([]byte(tt.b))
		if !okA || !okB {
			t.Fatalf("parseNumber(%s, %s) = %v, %v", tt.a, tt.b, okA, okB)
		}
		if got := compareNumbers(&a, &b); got != tt.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := compareNumbers(&b, &a); got != -tt.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
		if tt.want == 0 && a.exact && b.exact && a.key() != b.key() {
			t.Errorf("equal numbers %s and %s have different keys", tt.a, tt.b)
		}
	}
}

func TestParseNumberRefuses(t *testing.T) {
	for _, lit := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "--1", "0x10", "NaN", "1.2.3"} {
		if _, ok := parseNumber([]byte(lit)); ok {
			t.Errorf("parseNumber(%q) accepted it", lit)
		}
	}
}

// FuzzCompareNumbers checks the exact comparison against math/big on any
// two number literals with moderate exponents.
func FuzzCompareNumbers(f *testing.F) {
	f.Add("9007199254740993", "9007199254740992.0")
	f.Add("0.1", "1e-1")
	f.Add("-12.5e3", "-1250e1")
	f.Fuzz(func(t *testing.T, x, y string) {
		a, okA := parseNumber([]byte(x))
		b, okB := parseNumber([]byte(y))
		if !okA || !okB {
			return
		}
		ra, okRA := moderateRat(x)
		rb, okRB := moderateRat(y)
		got := compareNumbers(&a, &b)
		if okRA && okRB {
			if want := ra.Cmp(rb); got != want {
				t.Fatalf("compare(%s, %s) = %d, math/big says %d", x, y, got, want)
			}
		}
		if got == 0 && a.exact != b.exact {
			t.Fatalf("equal numbers %s and %s are not both in the fast form", x, y)
		}
		if got == 0 && a.exact && a.key() != b.key() {
			t.Fatalf("equal numbers %s and %s have different keys", x, y)
		}
	})
}

// moderateRat reads a literal with math/big when its exponent is small
// enough to compute with.
func moderateRat(lit string) (*big.Rat, bool) {
	if _, exp, ok := strings.Cut(strings.ToLower(lit), "e"); ok && len(strings.TrimLeft(exp, "+-0")) > 4 {
		return nil, false
	}
	return new(big.Rat).SetString(lit)
}
