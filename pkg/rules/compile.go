package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// predicate reports whether an event's data satisfies a condition.
type predicate func(data *fastjson.Value) bool

// compile turns a validated condition into a predicate.
func compile(c *Condition, path string) (predicate, error) {
	switch {
	case c.All != nil:
		preds, err := compileList(c.All, path+".all")
		if err != nil {
			return nil, err
		}
		return func(data *fastjson.Value) bool {
			for _, p := range preds {
				if !p(data) {
					return false
				}
			}
			return true
		}, nil
	case c.Any != nil:
		preds, err := compileList(c.Any, path+".any")
		if err != nil {
			return nil, err
		}
		return func(data *fastjson.Value) bool {
			for _, p := range preds {
				if p(data) {
					return true
				}
			}
			return false
		}, nil
	case c.Not != nil:
		inner, err := compile(c.Not, path+".not")
		if err != nil {
			return nil, err
		}
		return func(data *fastjson.Value) bool { return !inner(data) }, nil
	default:
		return compileComparison(c, path)
	}
}

func compileList(list []*Condition, path string) ([]predicate, error) {
	preds := make([]predicate, len(list))
	for i, c := range list {
		p, err := compile(c, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		preds[i] = p
	}
	return preds, nil
}

func compileComparison(c *Condition, path string) (predicate, error) {
	keys := strings.Split(c.Field, ".")
	switch want := c.Value.(type) {
	case json.Number:
		n, err := strconv.ParseFloat(string(want), 64)
		if err != nil {
			return nil, invalid(path+".value", "number %s is out of range", want)
		}
		holds := numberTest(c.Operator)
		return func(data *fastjson.Value) bool {
			v := data.Get(keys...)
			return v != nil && v.Type() == fastjson.TypeNumber && holds(v.GetFloat64(), n)
		}, nil
	case string:
		holds := stringTest(c.Operator)
		return func(data *fastjson.Value) bool {
			v := data.Get(keys...)
			return v != nil && v.Type() == fastjson.TypeString && holds(strings.Compare(string(v.GetStringBytes()), want))
		}, nil
	case bool:
		equal := c.Operator == "=="
		return func(data *fastjson.Value) bool {
			v := data.Get(keys...)
			if v == nil || (v.Type() != fastjson.TypeTrue && v.Type() != fastjson.TypeFalse) {
				return false
			}
			return (v.GetBool() == want) == equal
		}, nil
	default:
		return nil, invalid(path+".value", "must be a number, a string or a boolean")
	}
}

func numberTest(op string) func(got, want float64) bool {
	switch op {
	case "==":
		return func(got, want float64) bool { return got == want }
	case "!=":
		return func(got, want float64) bool { return got != want }
	case ">":
		return func(got, want float64) bool { return got > want }
	case ">=":
		return func(got, want float64) bool { return got >= want }
	case "<":
		return func(got, want float64) bool { return got < want }
	default:
		return func(got, want float64) bool { return got <= want }
	}
}

// stringTest turns an operator into a test on the result of strings.Compare.
func stringTest(op string) func(cmp int) bool {
	switch op {
	case "==":
		return func(cmp int) bool { return cmp == 0 }
	case "!=":
		return func(cmp int) bool { return cmp != 0 }
	case ">":
		return func(cmp int) bool { return cmp > 0 }
	case ">=":
		return func(cmp int) bool { return cmp >= 0 }
	case "<":
		return func(cmp int) bool { return cmp < 0 }
	default:
		return func(cmp int) bool { return cmp <= 0 }
	}
}
