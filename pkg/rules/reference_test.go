package rules_test

// This file is a reference interpreter of the rule language, written
// plainly from docs/rules.md and sharing no code with the package: it
// decodes the whole event with encoding/json and walks the condition tree.
// The tests and the fuzzers check that the compiled evaluator agrees with
// it.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/zenith-hq/zenith/pkg/rules"
)

// refValue is a decoded JSON value. Objects keep the first occurrence of a
// repeated key.
type refValue struct {
	kind string // "null", "bool", "number", "string", "object", "array"
	b    bool
	num  json.Number
	str  string
	obj  map[string]*refValue
	arr  []*refValue
}

// refDecode decodes data token by token.
func refDecode(data []byte) (*refValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := refDecodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

func refDecodeValue(dec *json.Decoder) (*refValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '{' {
			return refDecodeObject(dec)
		}
		return refDecodeArray(dec)
	case bool:
		return &refValue{kind: "bool", b: tok}, nil
	case json.Number:
		return &refValue{kind: "number", num: tok}, nil
	case string:
		return &refValue{kind: "string", str: tok}, nil
	default:
		return &refValue{kind: "null"}, nil
	}
}

func refDecodeObject(dec *json.Decoder) (*refValue, error) {
	v := &refValue{kind: "object", obj: map[string]*refValue{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		member, err := refDecodeValue(dec)
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		if _, seen := v.obj[key]; !seen {
			v.obj[key] = member
		}
	}
	_, err := dec.Token()
	return v, err
}

func refDecodeArray(dec *json.Decoder) (*refValue, error) {
	v := &refValue{kind: "array"}
	for dec.More() {
		elem, err := refDecodeValue(dec)
		if err != nil {
			return nil, err
		}
		v.arr = append(v.arr, elem)
	}
	_, err := dec.Token()
	return v, err
}

// refSegments splits a field into segments: dots separate, \. and \\
// escape.
func refSegments(field string) []string {
	var segments []string
	var cur []byte
	for i := 0; i < len(field); i++ {
		if field[i] == '\\' && i+1 < len(field) {
			i++
			cur = append(cur, field[i])
			continue
		}
		if field[i] == '.' {
			segments = append(segments, string(cur))
			cur = nil
			continue
		}
		cur = append(cur, field[i])
	}
	return append(segments, string(cur))
}

// refRead returns the values a path reads from v.
func refRead(v *refValue, segments []string) []*refValue {
	if len(segments) == 0 {
		return []*refValue{v}
	}
	seg := segments[0]
	switch v.kind {
	case "object":
		if child, ok := v.obj[seg]; ok {
			return refRead(child, segments[1:])
		}
	case "array":
		if refAllDigits(seg) {
			i, err := strconv.Atoi(seg)
			if err == nil && len(seg) <= 9 && i < len(v.arr) {
				return refRead(v.arr[i], segments[1:])
			}
			return nil
		}
		var out []*refValue
		for _, elem := range v.arr {
			if elem.kind == "object" {
				out = append(out, refRead(elem, segments)...)
			}
		}
		return out
	}
	return nil
}

func refAllDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// refCandidates returns what comparisons look at: each value read, or an
// array's elements.
func refCandidates(read []*refValue) []*refValue {
	var out []*refValue
	for _, v := range read {
		if v.kind == "array" {
			out = append(out, v.arr...)
		} else {
			out = append(out, v)
		}
	}
	return out
}

// errUnjudgeable marks an input the reference interpreter will not judge:
// a number whose exponent would make exact arithmetic too large.
var errUnjudgeable = errors.New("number too large for the reference interpreter")

// refHolds evaluates a condition; the error is errUnjudgeable.
func refHolds(c *rules.Condition, root *refValue) (bool, error) {
	switch {
	case c.All != nil:
		for _, child := range c.All {
			ok, err := refHolds(child, root)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case c.Any != nil:
		for _, child := range c.Any {
			ok, err := refHolds(child, root)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case c.Not != nil:
		ok, err := refHolds(c.Not, root)
		return !ok, err
	}
	return refCompare(c, refRead(root, refSegments(c.Field)))
}

func refCompare(c *rules.Condition, read []*refValue) (bool, error) {
	if c.Operator == "exists" {
		present := false
		for _, v := range read {
			present = present || v.kind != "null"
		}
		if want, ok := c.Value.(bool); ok && !want {
			return !present, nil
		}
		return present, nil
	}

	cands := refCandidates(read)
	switch c.Operator {
	case "!=":
		return refNoneEqual(cands, []any{c.Value})
	case "not_in":
		return refNoneEqual(cands, c.Value.([]any))
	case "contains":
		return refContains(read, c.Value)
	}
	for _, cand := range cands {
		ok, err := refSatisfies(c.Operator, c.Value, cand)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// refNoneEqual holds when some candidate has the type of the values and
// none equals one of them.
func refNoneEqual(cands []*refValue, values []any) (bool, error) {
	comparable := false
	for _, cand := range cands {
		if cand.kind != refKindOf(values[0]) {
			continue
		}
		comparable = true
		for _, want := range values {
			if c, err := refOrder(cand, want); err != nil || c == 0 {
				return false, err
			}
		}
	}
	return comparable, nil
}

func refContains(read []*refValue, want any) (bool, error) {
	for _, v := range read {
		if v.kind == "array" {
			for _, elem := range v.arr {
				if c, err := refOrder(elem, want); err != nil || c == 0 {
					return err == nil, err
				}
			}
			continue
		}
		if s, ok := want.(string); ok && v.kind == "string" && strings.Contains(v.str, s) {
			return true, nil
		}
	}
	return false, nil
}

// refSatisfies tests one candidate against a positive operator.
func refSatisfies(op string, want any, cand *refValue) (bool, error) {
	switch op {
	case "in":
		for _, w := range want.([]any) {
			if c, err := refOrder(cand, w); err != nil || c == 0 {
				return err == nil, err
			}
		}
		return false, nil
	case "between":
		bounds := want.([]any)
		lo, err := refOrder(cand, bounds[0])
		if err != nil || lo == -2 || lo < 0 {
			return false, err
		}
		hi, err := refOrder(cand, bounds[1])
		return err == nil && hi != -2 && hi <= 0, err
	case "starts_with":
		return cand.kind == "string" && strings.HasPrefix(cand.str, want.(string)), nil
	case "ends_with":
		return cand.kind == "string" && strings.HasSuffix(cand.str, want.(string)), nil
	case "equals_ignore_case":
		return cand.kind == "string" && strings.EqualFold(cand.str, want.(string)), nil
	case "matches":
		return cand.kind == "string" && regexp.MustCompile(want.(string)).MatchString(cand.str), nil
	}
	c, err := refOrder(cand, want)
	if err != nil || c == -2 {
		return false, err
	}
	switch op {
	case "==":
		return c == 0, nil
	case ">":
		return c > 0, nil
	case ">=":
		return c >= 0, nil
	case "<":
		return c < 0, nil
	default:
		return c <= 0, nil
	}
}

func refKindOf(want any) string {
	switch want.(type) {
	case json.Number:
		return "number"
	case string:
		return "string"
	default:
		return "bool"
	}
}

// refOrder compares a candidate with a rule value: -1, 0 or 1, or -2 when
// their types differ (booleans only compare equal or not).
func refOrder(cand *refValue, want any) (int, error) {
	if cand.kind != refKindOf(want) {
		return -2, nil
	}
	switch w := want.(type) {
	case json.Number:
		a, err := refRat(cand.num)
		if err != nil {
			return 0, err
		}
		b, err := refRat(w)
		if err != nil {
			return 0, err
		}
		return a.Cmp(b), nil
	case string:
		return strings.Compare(cand.str, w), nil
	default:
		if cand.b == w.(bool) {
			return 0, nil
		}
		return -2, nil
	}
}

// refRat reads a number exactly, refusing exponents beyond a few
// thousand.
func refRat(n json.Number) (*big.Rat, error) {
	s := strings.ToLower(string(n))
	if _, exp, ok := strings.Cut(s, "e"); ok {
		e, err := strconv.Atoi(exp)
		if err != nil || e > 4000 || e < -4000 {
			return nil, errUnjudgeable
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, errors.New("not a number: " + s)
	}
	return r, nil
}

// referenceHolds evaluates a condition on data; ok is false when the
// reference cannot judge (data not JSON, or numbers too large).
func referenceHolds(c *rules.Condition, data []byte) (holds, ok bool) {
	root, err := refDecode(data)
	if err != nil || root.kind != "object" {
		return false, false
	}
	holds, err = refHolds(c, root)
	return holds, err == nil
}

// referenceMatch returns the names of the rules an event fires, in order,
// fallback logic included; ok as for referenceHolds.
func referenceMatch(list []rules.Rule, eventType string, data []byte) (names []string, ok bool) {
	root, err := refDecode(data)
	if err != nil || root.kind != "object" {
		return nil, false
	}
	ordered := append([]rules.Rule(nil), list...)
	sort.SliceStable(ordered, func(i, j int) bool {
		a, b := ordered[i], ordered[j]
		if a.Fallback != b.Fallback {
			return !a.Fallback
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.Name < b.Name
	})

	names = []string{}
	regularFired := false
	for _, r := range ordered {
		if r.Fallback && regularFired {
			break
		}
		if !refTypeMatches(r.EventType, eventType) {
			continue
		}
		holds := true
		if r.Condition != nil {
			holds, err = refHolds(r.Condition, root)
			if err != nil {
				return nil, false
			}
		}
		if holds {
			names = append(names, r.Name)
			regularFired = regularFired || !r.Fallback
		}
	}
	return names, true
}

func refTypeMatches(filter, eventType string) bool {
	if base, ok := strings.CutSuffix(filter, ".*"); ok {
		return strings.HasPrefix(eventType, base+".") && len(eventType) > len(base)+1
	}
	return filter == "" || filter == eventType
}
