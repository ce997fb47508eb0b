package rules

import (
	"bytes"
	"cmp"
	"fmt"
)

// predicate reports whether the event whose values st holds satisfies a
// condition. Predicates are built once per rule; each is specialised for
// its operator and the type of its value.
type predicate func(st *evalState) bool

// compile turns a condition into a predicate, adding the fields it reads
// to p. The condition is checked as ParseCondition checks it.
func compile(c *Condition, path string, p *plan) (predicate, error) {
	var count nodeCounter
	if err := validate(c, path, 1, &count); err != nil {
		return nil, err
	}
	return compileNode(c, path, p), nil
}

// compileNode compiles a validated condition.
func compileNode(c *Condition, path string, p *plan) predicate {
	switch {
	case c.All != nil:
		return allOf(compileList(c.All, path+".all", p))
	case c.Any != nil:
		return anyOf(compileList(c.Any, path+".any", p))
	case c.Not != nil:
		inner := compileNode(c.Not, path+".not", p)
		return func(st *evalState) bool { return !inner(st) }
	default:
		cmp := mustComparison(c, path)
		return comparisonPredicate(cmp, p.slot(cmp.path))
	}
}

func compileList(list []*Condition, path string, p *plan) []predicate {
	preds := make([]predicate, len(list))
	for i, c := range list {
		preds[i] = compileNode(c, fmt.Sprintf("%s[%d]", path, i), p)
	}
	return preds
}

// mustComparison returns the checked form of a comparison that validate
// accepted.
func mustComparison(c *Condition, path string) *comparison {
	cmp, err := checkComparison(c, c.Value != nil || c.Operator != "exists", path)
	if err != nil {
		panic(fmt.Sprintf("rules: comparison changed after validation: %v", err))
	}
	return cmp
}

func allOf(preds []predicate) predicate {
	switch len(preds) {
	case 0:
		return nil
	case 1:
		return preds[0]
	case 2:
		a, b := preds[0], preds[1]
		return func(st *evalState) bool { return a(st) && b(st) }
	case 3:
		a, b, c := preds[0], preds[1], preds[2]
		return func(st *evalState) bool { return a(st) && b(st) && c(st) }
	}
	return func(st *evalState) bool {
		for _, p := range preds {
			if !p(st) {
				return false
			}
		}
		return true
	}
}

func anyOf(preds []predicate) predicate {
	switch len(preds) {
	case 1:
		return preds[0]
	case 2:
		a, b := preds[0], preds[1]
		return func(st *evalState) bool { return a(st) || b(st) }
	}
	return func(st *evalState) bool {
		for _, p := range preds {
			if p(st) {
				return true
			}
		}
		return false
	}
}

// Orderings a comparison accepts, as a mask over the result of a
// three-way comparison c: bit c+1.
const (
	acceptLess    uint8 = 1 << 0
	acceptEqual   uint8 = 1 << 1
	acceptGreater uint8 = 1 << 2
)

var orderings = map[string]uint8{
	"==": acceptEqual,
	">":  acceptGreater,
	">=": acceptGreater | acceptEqual,
	"<":  acceptLess,
	"<=": acceptLess | acceptEqual,
}

// comparisonPredicate builds the predicate of a checked comparison whose
// field's values land in slot.
//
// A comparison looks at the slot's candidates: each value the path read,
// or for an array, each of its elements. It holds when some candidate of
// the operand's type satisfies it; "!=" and "not_in" hold when there is at
// least one candidate of that type and none is equal (in the list). A
// candidate of another type never satisfies anything.
func comparisonPredicate(cmp *comparison, slot int) predicate {
	switch cmp.operator {
	case "exists":
		if cmp.present {
			return func(st *evalState) bool { return exists(st, slot) }
		}
		return func(st *evalState) bool { return !exists(st, slot) }
	case "==", ">", ">=", "<", "<=":
		return orderPredicate(slot, cmp.one, orderings[cmp.operator])
	case "!=":
		return membershipPredicate(slot, []operand{cmp.one}, true)
	case "in":
		return membershipPredicate(slot, cmp.list, false)
	case "not_in":
		return membershipPredicate(slot, cmp.list, true)
	case "between":
		low, high := cmp.list[0], cmp.list[1]
		return anyCandidate(slot, func(v *value) bool {
			return v.kind == low.kind && compareValue(v, &low) >= 0 && compareValue(v, &high) <= 0
		})
	case "contains":
		return containsPredicate(slot, cmp.one)
	default:
		return stringPredicate(slot, stringTest(cmp))
	}
}

// exists reports whether the path read a value other than null.
func exists(st *evalState, slot int) bool {
	for i := st.head[slot]; i >= 0; i = st.vals[i].next {
		if v := &st.vals[i]; !v.elem && v.kind != kindNull {
			return true
		}
	}
	return false
}

// orderPredicate holds when some candidate of want's type compares with
// want as accept allows. It is the hot path of ==, <, <=, > and >=.
func orderPredicate(slot int, want operand, accept uint8) predicate {
	switch want.kind {
	case kindNumber:
		num := want.num
		if !num.exact {
			return anyCandidate(slot, func(v *value) bool {
				return v.kind == kindNumber && accept&(1<<(compareNumbers(&v.num, &num)+1)) != 0
			})
		}
		sign, mag, frac := num.sign, num.mag, num.frac
		return func(st *evalState) bool {
			for i := st.head[slot]; i >= 0; i = st.vals[i].next {
				v := &st.vals[i]
				if v.kind != kindNumber {
					continue
				}
				// compareNumbers, with its common cases written out: this
				// is the hottest loop of rule evaluation.
				var c int
				switch {
				case !v.num.exact:
					c = compareNumbers(&v.num, &num)
				case v.num.sign != sign:
					c = cmp.Compare(int64(v.num.sign), int64(sign))
				case v.num.mag != mag:
					c = cmp.Compare(v.num.mag, mag) * int(sign)
				case v.num.frac != frac:
					c = cmp.Compare(v.num.frac, frac) * int(sign)
				}
				if accept&(1<<(c+1)) != 0 {
					return true
				}
			}
			return false
		}
	case kindString:
		str := []byte(want.str)
		if accept == acceptEqual {
			return func(st *evalState) bool {
				for i := st.head[slot]; i >= 0; i = st.vals[i].next {
					v := &st.vals[i]
					if v.kind == kindString && bytes.Equal(v.str, str) {
						return true
					}
				}
				return false
			}
		}
		return func(st *evalState) bool {
			for i := st.head[slot]; i >= 0; i = st.vals[i].next {
				v := &st.vals[i]
				if v.kind == kindString && accept&(1<<(bytes.Compare(v.str, str)+1)) != 0 {
					return true
				}
			}
			return false
		}
	default:
		b := want.b
		return func(st *evalState) bool {
			for i := st.head[slot]; i >= 0; i = st.vals[i].next {
				v := &st.vals[i]
				if v.kind == kindBool && v.b == b {
					return true
				}
			}
			return false
		}
	}
}

// shortList is the longest list membership tests compare one by one;
// longer ones use a map.
const shortList = 8

// membershipPredicate is the predicate of in (and of != and not_in with
// negate). Short lists are compared one by one, strings without any call,
// the hot path of many rule sets; long lists go through an operandSet.
func membershipPredicate(slot int, list []operand, negate bool) predicate {
	in := func(v *value) bool {
		for i := range list {
			if equalsOperand(v, &list[i]) {
				return true
			}
		}
		return false
	}
	if len(list) > shortList {
		in = newOperandSet(list).has
	}
	if list[0].kind != kindString || len(list) > shortList {
		if negate {
			return noneEqual(slot, list[0].kind, in)
		}
		return anyCandidate(slot, in)
	}

	strs := make([]string, len(list))
	for i, o := range list {
		strs[i] = o.str
	}
	return func(st *evalState) bool {
		comparable := false
		for i := st.head[slot]; i >= 0; i = st.vals[i].next {
			v := &st.vals[i]
			if v.kind != kindString {
				continue
			}
			comparable = true
			for _, s := range strs {
				if string(v.str) == s {
					return !negate
				}
			}
		}
		return negate && comparable
	}
}

// anyCandidate holds when test holds for some candidate.
func anyCandidate(slot int, test func(v *value) bool) predicate {
	return func(st *evalState) bool {
		for i := st.head[slot]; i >= 0; i = st.vals[i].next {
			if v := &st.vals[i]; v.kind != kindArray && test(v) {
				return true
			}
		}
		return false
	}
}

// noneEqual holds when there is a candidate of type k and equal holds for
// none of them: the meaning of != and not_in.
func noneEqual(slot int, k kind, equal func(v *value) bool) predicate {
	return func(st *evalState) bool {
		comparable := false
		for i := st.head[slot]; i >= 0; i = st.vals[i].next {
			v := &st.vals[i]
			if v.kind != k {
				continue
			}
			if equal(v) {
				return false
			}
			comparable = true
		}
		return comparable
	}
}

// containsPredicate holds when a string the path read contains want as a
// substring, or an array it read has an element equal to want.
func containsPredicate(slot int, want operand) predicate {
	sub := []byte(want.str)
	return anyCandidate(slot, func(v *value) bool {
		if v.elem {
			return equalsOperand(v, &want)
		}
		return want.kind == kindString && v.kind == kindString && bytes.Contains(v.str, sub)
	})
}

// stringPredicate holds when test holds for some string candidate.
func stringPredicate(slot int, test func(s []byte) bool) predicate {
	return anyCandidate(slot, func(v *value) bool {
		return v.kind == kindString && test(v.str)
	})
}

// stringTest returns the test of starts_with, ends_with,
// equals_ignore_case or matches.
func stringTest(cmp *comparison) func(s []byte) bool {
	want := cmp.one.str
	wantBytes := []byte(want)
	switch cmp.operator {
	case "starts_with":
		return func(s []byte) bool { return bytes.HasPrefix(s, wantBytes) }
	case "ends_with":
		return func(s []byte) bool { return bytes.HasSuffix(s, wantBytes) }
	case "equals_ignore_case":
		return func(s []byte) bool { return equalFold(s, want) }
	default:
		return cmp.re.Match
	}
}

// equalsOperand reports whether v is of o's type and equal to it.
func equalsOperand(v *value, o *operand) bool {
	if v.kind != o.kind {
		return false
	}
	switch o.kind {
	case kindNumber:
		return compareNumbers(&v.num, &o.num) == 0
	case kindString:
		return string(v.str) == o.str
	default:
		return v.b == o.b
	}
}

// compareValue orders v against o; both are numbers or both strings.
func compareValue(v *value, o *operand) int {
	if o.kind == kindNumber {
		return compareNumbers(&v.num, &o.num)
	}
	return bytes.Compare(v.str, []byte(o.str))
}

// operandSet is the list of in or not_in, all of one type, ready for
// membership tests.
type operandSet struct {
	kind    kind
	strs    map[string]struct{}
	nums    map[numKey]struct{}
	inexact []number // numbers too long for numKey
	bools   [2]bool
}

func newOperandSet(list []operand) *operandSet {
	s := &operandSet{kind: list[0].kind}
	for _, o := range list {
		switch {
		case o.kind == kindString:
			if s.strs == nil {
				s.strs = map[string]struct{}{}
			}
			s.strs[o.str] = struct{}{}
		case o.kind == kindBool:
			s.bools[boolIndex(o.b)] = true
		case o.num.exact:
			if s.nums == nil {
				s.nums = map[numKey]struct{}{}
			}
			s.nums[o.num.key()] = struct{}{}
		default:
			s.inexact = append(s.inexact, o.num)
		}
	}
	return s
}

// has reports whether v is of the set's type and in it.
func (s *operandSet) has(v *value) bool {
	if v.kind != s.kind {
		return false
	}
	switch v.kind {
	case kindString:
		_, ok := s.strs[string(v.str)]
		return ok
	case kindBool:
		return s.bools[boolIndex(v.b)]
	}
	if v.num.exact {
		_, ok := s.nums[v.num.key()]
		return ok
	}
	for i := range s.inexact {
		if compareNumbers(&v.num, &s.inexact[i]) == 0 {
			return true
		}
	}
	return false
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
