package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// RuleExplanation says whether one rule fires for an event, and why.
type RuleExplanation struct {
	Rule *Rule
	// Matched reports that the rule fires for the event, fallback logic
	// applied.
	Matched bool
	// TypeMatched reports that the rule's event type filter let the event
	// through.
	TypeMatched bool
	// Reason is one line, such as `event type "refund.created" is not
	// "purchase.completed"` or "condition held".
	Reason string
	// Condition explains the rule's condition; nil when the rule has none.
	Condition *ConditionExplanation
}

// ConditionExplanation says how one node of a condition tree evaluated.
type ConditionExplanation struct {
	// Path names the node, as in validation errors: "condition",
	// "condition.all[1]", ...
	Path string
	// Kind is "all", "any", "not" or "comparison".
	Kind string
	// Field, Operator and Value are the comparison's, Value as written in
	// the rule; empty for composites.
	Field    string
	Operator string
	Value    any
	// Found reports that the field is present in the event (null counts as
	// present).
	Found bool
	// Got is the value read, as JSON; nil when the field is missing.
	Got json.RawMessage
	// Passed reports that the node holds.
	Passed bool
	// Reason is one line, such as `amount is 120, not > 500` or
	// `user.segment is missing`.
	Reason string
	// Children explain the nodes of an all, any or not.
	Children []*ConditionExplanation
}

// Explain evaluates one event of eventType with data against every rule of
// the set, fallback logic included, and says per rule and per condition
// what was read and why it held or not. It reads the event as Match does
// and evaluates each comparison with the predicate Match uses, so both
// agree; it is slower, allocates, and has no side effects. Unlike Match it
// validates data: an error means data is not a valid JSON object.
func (s *Set) Explain(eventType string, data []byte) ([]RuleExplanation, error) {
	if !json.Valid(data) {
		return nil, errors.New("read event data: not valid JSON")
	}
	st := newEvalState(s.plan, len(s.rules))
	if err := st.extract(s.plan, data); err != nil {
		return nil, fmt.Errorf("read event data: %w", err)
	}

	list := make([]RuleExplanation, len(s.rules))
	anyMatched := false
	for i := range s.rules {
		e := s.explainRule(&s.rules[i], eventType, st)
		if i < s.regular {
			anyMatched = anyMatched || e.Matched
		} else if anyMatched && e.Matched {
			e.Matched = false
			e.Reason = "fallback: another rule matched"
		}
		list[i] = e
	}
	return list, nil
}

// explainRule explains one rule on its own, as if it were not a fallback.
func (s *Set) explainRule(c *compiledRule, eventType string, st *evalState) RuleExplanation {
	r := c.rule
	e := RuleExplanation{Rule: r, TypeMatched: c.filter.matches(eventType)}
	if r.Condition != nil {
		e.Condition = s.explainNode(r.Condition, "condition", st)
	}
	switch {
	case !e.TypeMatched:
		e.Reason = fmt.Sprintf("event type %q is not %q", eventType, r.EventType)
	case e.Condition == nil:
		e.Matched = true
		e.Reason = "no condition: every event of its type matches"
	case e.Condition.Passed:
		e.Matched = true
		e.Reason = "condition held"
	default:
		e.Reason = "condition failed at " + firstFailure(e.Condition)
	}
	if r.Fallback && e.Matched {
		e.Reason = "fallback: no other rule matched; " + e.Reason
	}
	return e
}

// explainNode explains a condition tree, child by child.
func (s *Set) explainNode(c *Condition, path string, st *evalState) *ConditionExplanation {
	switch {
	case c.All != nil:
		e := &ConditionExplanation{Path: path, Kind: "all", Passed: true}
		for i, child := range c.All {
			ce := s.explainNode(child, fmt.Sprintf("%s.all[%d]", path, i), st)
			e.Children = append(e.Children, ce)
			e.Passed = e.Passed && ce.Passed
		}
		e.Reason = countReason(e.Children, "all")
		return e
	case c.Any != nil:
		e := &ConditionExplanation{Path: path, Kind: "any"}
		for i, child := range c.Any {
			ce := s.explainNode(child, fmt.Sprintf("%s.any[%d]", path, i), st)
			e.Children = append(e.Children, ce)
			e.Passed = e.Passed || ce.Passed
		}
		e.Reason = countReason(e.Children, "any")
		return e
	case c.Not != nil:
		inner := s.explainNode(c.Not, path+".not", st)
		e := &ConditionExplanation{Path: path, Kind: "not", Passed: !inner.Passed, Children: []*ConditionExplanation{inner}}
		if inner.Passed {
			e.Reason = "the inner condition held"
		} else {
			e.Reason = "the inner condition failed"
		}
		return e
	default:
		return s.explainComparison(c, path, st)
	}
}

func (s *Set) explainComparison(c *Condition, path string, st *evalState) *ConditionExplanation {
	cmp := mustComparison(c, path)
	slot := s.plan.lookup(cmp.path)
	e := &ConditionExplanation{
		Path: path, Kind: "comparison", Field: c.Field, Operator: c.Operator, Value: c.Value,
		Passed: comparisonPredicate(cmp, slot)(st),
	}

	var read []*value
	for i := st.head[slot]; i >= 0; i = st.vals[i].next {
		if v := &st.vals[i]; !v.elem {
			read = append(read, v)
		}
	}
	e.Found = len(read) > 0
	if e.Found {
		e.Got = rawValues(st.data, read)
	}
	e.Reason = comparisonReason(cmp, c.Value, read, e)
	return e
}

// rawValues returns the JSON of the values read: the value itself, or an
// array of them when the path crossed an array and read several.
func rawValues(data []byte, read []*value) json.RawMessage {
	if len(read) == 1 {
		return json.RawMessage(data[read[0].start:read[0].end:read[0].end])
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range read {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(data[v.start:v.end])
	}
	b.WriteByte(']')
	return b.Bytes()
}

// comparisonReason says in one line why a comparison held or failed.
func comparisonReason(cmp *comparison, want any, read []*value, e *ConditionExplanation) string {
	if !e.Found {
		return cmp.field + " is missing"
	}
	got := shorten(e.Got)
	if allNull(read) {
		return cmp.field + " is null"
	}
	if cmp.operator == "exists" {
		return fmt.Sprintf("%s is %s", cmp.field, got)
	}
	wantJSON, _ := json.Marshal(want)
	if k := operandKind(cmp); k != 0 && !hasCandidate(read, k, cmp.operator == "contains") {
		return fmt.Sprintf("%s is %s, which is not %s like %s", cmp.field, got, k, wantJSON)
	}
	verdict := cmp.operator
	if !e.Passed {
		verdict = "not " + verdict
	}
	return fmt.Sprintf("%s is %s, %s %s", cmp.field, got, verdict, wantJSON)
}

// operandKind returns the type of value a comparison compares with.
func operandKind(cmp *comparison) kind {
	if len(cmp.list) > 0 {
		return cmp.list[0].kind
	}
	return cmp.one.kind
}

// hasCandidate reports whether something read is of kind k or, for an
// array, has an element of kind k; with anyString, strings count too (as
// contains looks into them).
func hasCandidate(read []*value, k kind, anyString bool) bool {
	for _, v := range read {
		if v.kind == k || (anyString && v.kind == kindString) || v.kind == kindArray {
			return true
		}
	}
	return false
}

func allNull(read []*value) bool {
	for _, v := range read {
		if v.kind != kindNull {
			return false
		}
	}
	return true
}

// shorten cuts a value for a one-line reason.
func shorten(raw []byte) string {
	const most = 120
	if len(raw) <= most {
		return string(raw)
	}
	return string(raw[:most]) + "…"
}

// countReason summarises the children of an all or an any.
func countReason(children []*ConditionExplanation, kind string) string {
	held := 0
	for _, c := range children {
		if c.Passed {
			held++
		}
	}
	return fmt.Sprintf("%d of %d held (%s)", held, len(children), kind)
}

// firstFailure returns the path of the deepest node that made e fail: the
// first failing child of an all, e itself otherwise.
func firstFailure(e *ConditionExplanation) string {
	if e.Kind == "all" {
		for _, c := range e.Children {
			if !c.Passed {
				return firstFailure(c)
			}
		}
	}
	return e.Path
}
