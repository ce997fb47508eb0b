package event

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/types/known/structpb"
)

// maxExactDouble is 2^53: every integer below it is a double exactly, and
// from it on a double can no longer tell neighbouring integers apart.
const maxExactDouble = 1 << 53

// StructCheck refuses what a google.protobuf.Struct cannot carry exactly.
// A Struct's numbers are doubles, so an integer beyond 2^53 that a client
// wrote was rounded before Zenith saw it, and nothing can tell: such a
// value must come as JSON text in the field named Exact, which is kept
// byte for byte.
type StructCheck struct {
	// Root names the Struct in errors, such as "data".
	Root string
	// Exact names the field that carries the same value as JSON text.
	Exact string
	// MaxDepth bounds the nesting of objects and lists (protobuf allows
	// 10,000 levels); 0 for no bound.
	MaxDepth int
}

// Check returns a *FieldError naming the first place of s that a double
// rounded, or that nests deeper than MaxDepth.
func (c StructCheck) Check(s *structpb.Struct) error {
	return c.value(structpb.NewStructValue(s), c.Root, 0)
}

func (c StructCheck) value(v *structpb.Value, path string, depth int) error {
	switch kind := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if n := kind.NumberValue; math.Abs(n) >= maxExactDouble {
			return codedErr(path, ReasonInexactNumber,
				"is 2^53 or beyond, where a google.protobuf.Struct's doubles round; send it as %s to keep it exact", c.Exact)
		}
	case *structpb.Value_StructValue:
		if depth++; c.MaxDepth > 0 && depth > c.MaxDepth {
			return codedErr(path, ReasonTooDeep, "nests deeper than %d levels", c.MaxDepth)
		}
		for key, item := range kind.StructValue.GetFields() {
			if err := c.value(item, path+"."+key, depth); err != nil {
				return err
			}
		}
	case *structpb.Value_ListValue:
		if depth++; c.MaxDepth > 0 && depth > c.MaxDepth {
			return codedErr(path, ReasonTooDeep, "nests deeper than %d levels", c.MaxDepth)
		}
		for i, item := range kind.ListValue.GetValues() {
			if err := c.value(item, fmt.Sprintf("%s[%d]", path, i), depth); err != nil {
				return err
			}
		}
	}
	return nil
}
