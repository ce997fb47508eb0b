package rules

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Limits on the pattern of "matches", checked when a condition is parsed.
// Go's RE2 engine runs in time linear in the input whatever the pattern;
// these bound the factor, and the memory a pattern takes.
const (
	MaxRegexpBytes = 1024
	// MaxRegexpInstructions bounds the size of the compiled program: a
	// pattern like (a|b){1000} is short but large.
	MaxRegexpInstructions = 2000
)

// compileRegexp compiles an RE2 pattern as written (not anchored: use ^
// and $ to anchor it), refusing one beyond the limits.
func compileRegexp(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > MaxRegexpBytes {
		return nil, fmt.Errorf("regular expression is longer than %d bytes", MaxRegexpBytes)
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	if len(prog.Inst) > MaxRegexpInstructions {
		return nil, fmt.Errorf("regular expression is too complex: %d instructions, at most %d", len(prog.Inst), MaxRegexpInstructions)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	return re, nil
}
