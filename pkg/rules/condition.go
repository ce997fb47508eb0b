package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/zenith-hq/zenith/pkg/event"
)

// Limits on a condition, checked when it is parsed and again when a Set is
// built. Limits on paths and regular expressions are beside them.
const (
	// MaxDepth is how deeply conditions may nest; a comparison alone is 1.
	MaxDepth = 16
	// MaxNodes is how many nodes (comparisons, all, any, not) a condition
	// may have.
	MaxNodes = 512
	// MaxConditionBytes is the largest condition ParseCondition reads.
	MaxConditionBytes = 64 << 10
	// MaxListValues is the longest list "in" and "not_in" take.
	MaxListValues = 1000
)

// Condition is one node of a rule's condition tree: exactly one of a
// comparison (Field, Operator and Value), All, Any or Not.
type Condition struct {
	Field    string `json:"field,omitempty"`
	Operator string `json:"operator,omitempty"`
	// Value is a json.Number, a string, a bool or a []any of them, as
	// ParseCondition decodes it; nil for "exists" without a value.
	Value any          `json:"value,omitempty"`
	All   []*Condition `json:"all,omitempty"`
	Any   []*Condition `json:"any,omitempty"`
	Not   *Condition   `json:"not,omitempty"`
}

// ValidationError reports a problem at one place of a condition. Path is
// written like condition.all[1].operator.
type ValidationError struct {
	Path    string
	Problem string
}

func (e *ValidationError) Error() string {
	return e.Path + ": " + e.Problem
}

func invalid(path, format string, args ...any) *ValidationError {
	return &ValidationError{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// ParseCondition reads and validates a condition from JSON, as a rule is
// saved. path names the condition in errors, for example "condition" or
// "rules[2].condition"; every error is a *ValidationError naming the place
// and the problem. Numbers are kept as json.Number, exactly as written.
//
// A key given twice in one object is refused, as in event data: the decoder
// keeps the last of two values, where another reader of the same JSON could
// keep the first, so the rule saved would not be the rule written.
func ParseCondition(raw []byte, path string) (*Condition, error) {
	if len(raw) > MaxConditionBytes {
		return nil, invalid(path, "is larger than %d bytes", MaxConditionBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, invalid(path, "is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid(path, "must hold one JSON object")
	}
	// The decoder has bounded the nesting, which bounds CheckJSON's
	// recursion.
	if fe := event.CheckJSON(raw, path); fe != nil {
		return nil, &ValidationError{Path: fe.Field, Problem: fe.Problem}
	}
	var count nodeCounter
	return fromJSON(tree, path, 1, &count)
}

// nodeCounter enforces MaxNodes and MaxDepth over one condition.
type nodeCounter struct {
	nodes int
}

func (n *nodeCounter) enter(path string, depth int) error {
	n.nodes++
	if n.nodes > MaxNodes {
		return invalid(path, "condition has more than %d nodes", MaxNodes)
	}
	if depth > MaxDepth {
		return invalid(path, "condition is nested deeper than %d levels", MaxDepth)
	}
	return nil
}

// fromJSON builds a condition from its decoded JSON, checking it as it
// goes.
func fromJSON(tree any, path string, depth int, count *nodeCounter) (*Condition, error) {
	if err := count.enter(path, depth); err != nil {
		return nil, err
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil, invalid(path, "must be an object")
	}
	if err := checkKeys(obj, path); err != nil {
		return nil, err
	}

	switch {
	case obj["all"] != nil:
		list, err := listFromJSON(obj["all"], path+".all", depth, count)
		return &Condition{All: list}, err
	case obj["any"] != nil:
		list, err := listFromJSON(obj["any"], path+".any", depth, count)
		return &Condition{Any: list}, err
	case obj["not"] != nil:
		inner, err := fromJSON(obj["not"], path+".not", depth+1, count)
		return &Condition{Not: inner}, err
	default:
		return comparisonFromJSON(obj, path)
	}
}

// checkKeys refuses unknown keys and a node that mixes kinds, such as a
// comparison with an "all" beside it.
func checkKeys(obj map[string]any, path string) error {
	kinds := 0
	for key := range obj {
		switch key {
		case "all", "any", "not":
			kinds++
		case "field", "operator", "value":
		default:
			return invalid(path+"."+key, "unknown key (want field, operator, value, all, any or not)")
		}
	}
	_, hasField := obj["field"]
	_, hasOp := obj["operator"]
	if hasField || hasOp {
		kinds++
	}
	if kinds == 0 {
		return invalid(path, "must have field and operator, or one of all, any, not")
	}
	if kinds > 1 {
		return invalid(path, "must be one of a comparison, all, any or not, not several")
	}
	return nil
}

func listFromJSON(v any, path string, depth int, count *nodeCounter) ([]*Condition, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, invalid(path, "must be a list of conditions")
	}
	if len(items) == 0 {
		return nil, invalid(path, "must not be empty")
	}
	list := make([]*Condition, 0, len(items))
	for i, item := range items {
		c, err := fromJSON(item, fmt.Sprintf("%s[%d]", path, i), depth+1, count)
		if err != nil {
			return nil, err
		}
		list = append(list, c)
	}
	return list, nil
}

func comparisonFromJSON(obj map[string]any, path string) (*Condition, error) {
	field, ok := obj["field"].(string)
	if !ok {
		return nil, invalid(path+".field", "must be a non-empty string")
	}
	op, ok := obj["operator"].(string)
	if !ok {
		return nil, invalid(path+".operator", "must be a string")
	}
	c := &Condition{Field: field, Operator: op, Value: obj["value"]}
	_, hasValue := obj["value"]
	if _, err := checkComparison(c, hasValue, path); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks a condition tree built by hand, as ParseCondition checks
// one it reads.
func validate(c *Condition, path string, depth int, count *nodeCounter) error {
	if err := count.enter(path, depth); err != nil {
		return err
	}
	kinds := 0
	for _, set := range []bool{c.All != nil, c.Any != nil, c.Not != nil, c.Field != "" || c.Operator != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return invalid(path, "must be one of a comparison, all, any or not")
	}

	switch {
	case c.All != nil:
		return validateList(c.All, path+".all", depth, count)
	case c.Any != nil:
		return validateList(c.Any, path+".any", depth, count)
	case c.Not != nil:
		return validate(c.Not, path+".not", depth+1, count)
	default:
		_, err := checkComparison(c, c.Value != nil || c.Operator != "exists", path)
		return err
	}
}

func validateList(list []*Condition, path string, depth int, count *nodeCounter) error {
	if len(list) == 0 {
		return invalid(path, "must not be empty")
	}
	for i, c := range list {
		if c == nil {
			return invalid(fmt.Sprintf("%s[%d]", path, i), "must be a condition")
		}
		if err := validate(c, fmt.Sprintf("%s[%d]", path, i), depth+1, count); err != nil {
			return err
		}
	}
	return nil
}

// operatorNames lists the operators in the order errors name them.
var operatorNames = []string{
	"==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains",
	"starts_with", "ends_with", "equals_ignore_case", "matches", "between", "exists",
}

// comparison is a checked comparison: its path parsed and its value typed
// for its operator.
type comparison struct {
	field    string
	path     fieldPath
	operator string
	// one is the value of operators that take one; list that of in,
	// not_in and between.
	one  operand
	list []operand
	// re is the compiled pattern of matches.
	re *regexp.Regexp
	// present is what exists asks for: true for a present field.
	present bool
}

// checkComparison parses c's field and types its value for its operator.
// hasValue tells a missing value from a null one.
func checkComparison(c *Condition, hasValue bool, path string) (*comparison, error) {
	fp, err := parsePath(c.Field)
	if err != nil {
		return nil, invalid(path+".field", "%v", err)
	}
	cmp := &comparison{field: c.Field, path: fp, operator: c.Operator}
	if !knownOperator(c.Operator) {
		return nil, invalid(path+".operator", "unknown operator %q (want one of %s)", c.Operator, strings.Join(operatorNames, " "))
	}
	if c.Operator == "exists" {
		return cmp, typeExists(cmp, c.Value, path+".value")
	}
	if !hasValue {
		return nil, invalid(path+".value", "is required")
	}
	if err := typeValue(cmp, c.Value); err != nil {
		return nil, invalid(path+".value", "%v", err)
	}
	return cmp, nil
}

func knownOperator(op string) bool {
	for _, name := range operatorNames {
		if op == name {
			return true
		}
	}
	return false
}

func typeExists(cmp *comparison, v any, path string) error {
	switch v := v.(type) {
	case nil:
		cmp.present = true
	case bool:
		cmp.present = v
	default:
		return invalid(path, `operator "exists" takes no value, or true or false`)
	}
	return nil
}

// typeValue types v for cmp's operator, refusing a value no event could
// ever match.
func typeValue(cmp *comparison, v any) error {
	switch cmp.operator {
	case "in", "not_in":
		list, err := typeList(v, cmp.operator)
		cmp.list = list
		return err
	case "between":
		bounds, err := typeBounds(v)
		cmp.list = bounds
		return err
	}

	o, err := typeOperand(v)
	if err != nil {
		return err
	}
	cmp.one = o
	switch cmp.operator {
	case ">", ">=", "<", "<=":
		if o.kind == kindBool {
			return fmt.Errorf("operator %q needs a number or a string, not a boolean", cmp.operator)
		}
	case "starts_with", "ends_with", "equals_ignore_case":
		if o.kind != kindString {
			return fmt.Errorf("operator %q needs a string, not %s", cmp.operator, o.kind)
		}
	case "matches":
		if o.kind != kindString {
			return fmt.Errorf(`operator "matches" needs a regular expression as a string, not %s`, o.kind)
		}
		cmp.re, err = compileRegexp(o.str)
		return err
	}
	return nil
}

// operand is a rule's value, typed once.
type operand struct {
	kind kind // kindNumber, kindString or kindBool
	num  number
	str  string
	b    bool
}

func typeOperand(v any) (operand, error) {
	switch v := v.(type) {
	case json.Number:
		n, ok := parseNumber([]byte(v))
		if !ok {
			return operand{}, fmt.Errorf("%s is not a JSON number", v)
		}
		return operand{kind: kindNumber, num: n}, nil
	case string:
		return operand{kind: kindString, str: v}, nil
	case bool:
		return operand{kind: kindBool, b: v}, nil
	case nil:
		return operand{}, fmt.Errorf(`null is not a value to compare with: use the operator "exists" to ask whether a field is present and not null`)
	case []any:
		return operand{}, fmt.Errorf("a list is only the value of in, not_in and between")
	default:
		return operand{}, fmt.Errorf("must be a number, a string or a boolean")
	}
}

// typeList types the list of in or not_in: one to MaxListValues values of
// one type.
func typeList(v any, op string) ([]operand, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("operator %q needs a list of values", op)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("operator %q needs at least one value", op)
	}
	if len(items) > MaxListValues {
		return nil, fmt.Errorf("has more than %d values", MaxListValues)
	}
	list := make([]operand, len(items))
	for i, item := range items {
		o, err := typeOperand(item)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		if i > 0 && o.kind != list[0].kind {
			return nil, fmt.Errorf("[%d] is %s but [0] is %s: a list holds values of one type", i, o.kind, list[0].kind)
		}
		list[i] = o
	}
	return list, nil
}

// typeBounds types the [low, high] of between: two numbers or two strings,
// low not above high.
func typeBounds(v any) ([]operand, error) {
	items, ok := v.([]any)
	if !ok || len(items) != 2 {
		return nil, fmt.Errorf(`operator "between" needs a list [low, high]`)
	}
	low, err := typeOperand(items[0])
	if err != nil {
		return nil, fmt.Errorf("[0]: %w", err)
	}
	high, err := typeOperand(items[1])
	if err != nil {
		return nil, fmt.Errorf("[1]: %w", err)
	}
	if low.kind == kindBool || low.kind != high.kind {
		return nil, fmt.Errorf(`operator "between" needs two numbers or two strings, not %s and %s`, low.kind, high.kind)
	}
	if compareOperands(&low, &high) > 0 {
		return nil, fmt.Errorf("low bound %s is above high bound %s: no value is between them", low, high)
	}
	return []operand{low, high}, nil
}

// compareOperands orders two operands of the same kind, number or string.
func compareOperands(a, b *operand) int {
	if a.kind == kindNumber {
		return compareNumbers(&a.num, &b.num)
	}
	return strings.Compare(a.str, b.str)
}

// String returns the operand as JSON.
func (o operand) String() string {
	switch o.kind {
	case kindNumber:
		return string(o.num.lit)
	case kindString:
		b, _ := json.Marshal(o.str)
		return string(b)
	default:
		return fmt.Sprint(o.b)
	}
}

// String names the kind as errors and explanations do.
func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindObject:
		return "an object"
	default:
		return "an array"
	}
}
