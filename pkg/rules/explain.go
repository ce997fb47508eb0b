package rules

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/valyala/fastjson"
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

// Rules returns the set's rules in evaluation order: by priority, fallbacks
// last.
func (s *Set) Rules() []*Rule {
	list := make([]*Rule, 0, s.Len())
	for _, c := range s.rules {
		list = append(list, c.rule)
	}
	for _, c := range s.fallbacks {
		list = append(list, c.rule)
	}
	return list
}

// Explain evaluates one event of eventType with data against every rule of
// the set, fallback logic included, and says per rule and per condition
// what was read and why it held or not. It has no side effects and is slow
// next to Match, which it agrees with. An error means data is not a JSON
// object.
func (s *Set) Explain(eventType string, data []byte) ([]RuleExplanation, error) {
	var p fastjson.Parser
	root, err := p.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parse event data: %w", err)
	}
	if root.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("parse event data: not a JSON object")
	}

	list := make([]RuleExplanation, 0, s.Len())
	anyMatched := false
	for _, c := range s.rules {
		e := explainRule(c.rule, eventType, root)
		anyMatched = anyMatched || e.Matched
		list = append(list, e)
	}
	for _, c := range s.fallbacks {
		e := explainRule(c.rule, eventType, root)
		if anyMatched && e.Matched {
			e.Matched = false
			e.Reason = "fallback: another rule matched"
		}
		list = append(list, e)
	}
	return list, nil
}

// explainRule explains one rule on its own, as if it were not a fallback.
func explainRule(r *Rule, eventType string, root *fastjson.Value) RuleExplanation {
	e := RuleExplanation{Rule: r, TypeMatched: r.EventType == "" || r.EventType == eventType}
	if r.Condition != nil {
		e.Condition = explainNode(r.Condition, "condition", root)
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

// explainNode explains a condition tree. Comparisons are evaluated by the
// same predicates Match uses, so that both agree.
func explainNode(c *Condition, path string, root *fastjson.Value) *ConditionExplanation {
	switch {
	case c.All != nil:
		e := &ConditionExplanation{Path: path, Kind: "all", Passed: true}
		for i, child := range c.All {
			ce := explainNode(child, fmt.Sprintf("%s.all[%d]", path, i), root)
			e.Children = append(e.Children, ce)
			e.Passed = e.Passed && ce.Passed
		}
		e.Reason = countReason(e.Children, "all")
		return e
	case c.Any != nil:
		e := &ConditionExplanation{Path: path, Kind: "any"}
		for i, child := range c.Any {
			ce := explainNode(child, fmt.Sprintf("%s.any[%d]", path, i), root)
			e.Children = append(e.Children, ce)
			e.Passed = e.Passed || ce.Passed
		}
		e.Reason = countReason(e.Children, "any")
		return e
	case c.Not != nil:
		inner := explainNode(c.Not, path+".not", root)
		e := &ConditionExplanation{Path: path, Kind: "not", Passed: !inner.Passed, Children: []*ConditionExplanation{inner}}
		if inner.Passed {
			e.Reason = "the inner condition held"
		} else {
			e.Reason = "the inner condition failed"
		}
		return e
	default:
		return explainComparison(c, path, root)
	}
}

func explainComparison(c *Condition, path string, root *fastjson.Value) *ConditionExplanation {
	e := &ConditionExplanation{Path: path, Kind: "comparison", Field: c.Field, Operator: c.Operator, Value: c.Value}
	test, err := compileComparison(c, path)
	if err != nil {
		e.Reason = err.Error()
		return e
	}
	e.Passed = test(root)

	v := root.Get(strings.Split(c.Field, ".")...)
	if v == nil {
		e.Reason = c.Field + " is missing"
		return e
	}
	e.Found = true
	e.Got = v.MarshalTo(nil)
	want, _ := json.Marshal(c.Value)
	verdict := c.Operator
	if !e.Passed {
		verdict = "not " + verdict
	}
	e.Reason = fmt.Sprintf("%s is %s, %s %s", c.Field, e.Got, verdict, want)
	return e
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
