package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits on a condition, checked when it is parsed.
const (
	MaxDepth = 16
	MaxNodes = 512
)

// Condition is one node of a rule's condition tree: exactly one of a
// comparison (Field, Operator, Value), All, Any or Not.
type Condition struct {
	Field    string       `json:"field,omitempty"`
	Operator string       `json:"operator,omitempty"`
	Value    any          `json:"value,omitempty"`
	All      []*Condition `json:"all,omitempty"`
	Any      []*Condition `json:"any,omitempty"`
	Not      *Condition   `json:"not,omitempty"`
}

// Operators a comparison may use.
var operators = map[string]bool{
	"==": true, "!=": true, ">": true, ">=": true, "<": true, "<=": true,
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

// ParseCondition reads and validates a condition from JSON. path names the
// condition in errors, for example "condition" or "rules[2].condition".
// Numbers are kept as json.Number so that they are typed exactly once, when
// the condition is compiled.
func ParseCondition(raw []byte, path string) (*Condition, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, invalid(path, "is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid(path, "must hold one JSON object")
	}
	nodes := 0
	return parseNode(tree, path, 1, &nodes)
}

func parseNode(tree any, path string, depth int, nodes *int) (*Condition, error) {
	*nodes++
	if *nodes > MaxNodes {
		return nil, invalid(path, "condition has more than %d nodes", MaxNodes)
	}
	if depth > MaxDepth {
		return nil, invalid(path, "condition is nested deeper than %d levels", MaxDepth)
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
		list, err := parseList(obj["all"], path+".all", depth, nodes)
		return &Condition{All: list}, err
	case obj["any"] != nil:
		list, err := parseList(obj["any"], path+".any", depth, nodes)
		return &Condition{Any: list}, err
	case obj["not"] != nil:
		inner, err := parseNode(obj["not"], path+".not", depth+1, nodes)
		return &Condition{Not: inner}, err
	default:
		return parseComparison(obj, path)
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

func parseList(v any, path string, depth int, nodes *int) ([]*Condition, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, invalid(path, "must be a list of conditions")
	}
	if len(items) == 0 {
		return nil, invalid(path, "must not be empty")
	}
	list := make([]*Condition, 0, len(items))
	for i, item := range items {
		c, err := parseNode(item, fmt.Sprintf("%s[%d]", path, i), depth+1, nodes)
		if err != nil {
			return nil, err
		}
		list = append(list, c)
	}
	return list, nil
}

func parseComparison(obj map[string]any, path string) (*Condition, error) {
	field, ok := obj["field"].(string)
	if !ok || field == "" {
		return nil, invalid(path+".field", "must be a non-empty string")
	}
	if err := checkPath(field); err != nil {
		return nil, invalid(path+".field", "%v", err)
	}
	op, ok := obj["operator"].(string)
	if !ok {
		return nil, invalid(path+".operator", "must be a string")
	}
	if !operators[op] {
		return nil, invalid(path+".operator", "unknown operator %q (want one of %s)", op, operatorList())
	}
	value, present := obj["value"]
	if !present {
		return nil, invalid(path+".value", "is required")
	}
	if err := checkValue(op, value); err != nil {
		return nil, invalid(path+".value", "%v", err)
	}
	return &Condition{Field: field, Operator: op, Value: value}, nil
}

func checkPath(field string) error {
	for _, part := range strings.Split(field, ".") {
		if part == "" {
			return fmt.Errorf("%q has an empty segment", field)
		}
	}
	return nil
}

func checkValue(op string, value any) error {
	switch v := value.(type) {
	case json.Number:
		// compile reads numbers as float64; one that does not fit would pass
		// here and then break the whole source's rule set.
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return fmt.Errorf("number %s is out of range", v)
		}
		return nil
	case string:
		return nil
	case bool:
		if op == "==" || op == "!=" {
			return nil
		}
		return fmt.Errorf("operator %q needs a number or a string, not a boolean", op)
	default:
		return fmt.Errorf("must be a number, a string or a boolean")
	}
}

func operatorList() string {
	list := make([]string, 0, len(operators))
	for op := range operators {
		list = append(list, op)
	}
	sort.Strings(list)
	return strings.Join(list, " ")
}
