package rules

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/zenith-hq/zenith/pkg/action"
)

// Rule is one rule of a source, as stored.
type Rule struct {
	ID      string
	Name    string
	Version int64
	// EventType limits the rule to events of one type ("order.created"),
	// or of every type under a prefix ("order.*"); empty for every type.
	EventType string
	// Condition is nil for a rule that matches every event of its type.
	Condition *Condition
	// Fallback marks a rule that fires only when no other rule of the source
	// matched an event.
	Fallback bool
	// Priority orders matches: higher first, then by name.
	Priority int
	// Sinks are the sinks the rule acts on.
	Sinks []action.SinkRef
}

// Set is the compiled rules of one source. It is immutable and safe for
// concurrent use; evaluating an event takes no lock and, once the Set has
// warmed up, allocates nothing.
type Set struct {
	// rules are in evaluation order: by priority, then name; fallbacks
	// last, from index regular on.
	rules   []compiledRule
	regular int
	plan    *plan
	index   ruleIndex
	states  sync.Pool
}

// compiledRule is a rule ready to evaluate.
type compiledRule struct {
	rule   *Rule
	filter typeFilter
	// test is nil for a rule without a condition.
	test predicate
}

// holds reports whether the rule matches, fallback logic aside.
func (c *compiledRule) holds(st *evalState, eventType string) bool {
	return c.filter.matches(eventType) && (c.test == nil || c.test(st))
}

// NewSet compiles rules into a Set: it checks each rule's event type filter
// and condition as saving them does, types the condition's values, turns
// each comparison into a specialised predicate, gathers the fields the
// rules read, and indexes equality conditions. An invalid rule is an error
// naming it.
func NewSet(rules []Rule) (*Set, error) {
	ordered := evaluationOrder(rules)
	s := &Set{plan: newPlan(), rules: make([]compiledRule, len(ordered))}
	for i, r := range ordered {
		c, err := compileRule(r, s.plan)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Name, err)
		}
		s.rules[i] = c
		if !r.Fallback {
			s.regular = i + 1
		}
	}
	s.index = buildIndex(s.rules[:s.regular], s.plan)
	s.states.New = func() any { return newEvalState(s.plan, len(s.rules)) }
	return s, nil
}

// evaluationOrder sorts the rules by priority, higher first, then by name,
// with the fallbacks after the others.
func evaluationOrder(rules []Rule) []*Rule {
	ordered := make([]*Rule, len(rules))
	for i := range rules {
		ordered[i] = &rules[i]
	}
	sort.SliceStable(ordered, func(i, j int) bool {
		a, b := ordered[i], ordered[j]
		switch {
		case a.Fallback != b.Fallback:
			return !a.Fallback
		case a.Priority != b.Priority:
			return a.Priority > b.Priority
		default:
			return a.Name < b.Name
		}
	})
	return ordered
}

func compileRule(r *Rule, p *plan) (compiledRule, error) {
	filter, err := parseTypeFilter(r.EventType, "event_type")
	if err != nil {
		return compiledRule{}, err
	}
	c := compiledRule{rule: r, filter: filter}
	if r.Condition != nil {
		c.test, err = compile(r.Condition, "condition", p)
		if err != nil {
			return compiledRule{}, err
		}
	}
	return c, nil
}

// Len returns the number of rules in the set, fallbacks included.
func (s *Set) Len() int {
	return len(s.rules)
}

// Rules returns the set's rules in evaluation order: by priority, then
// name, fallbacks last.
func (s *Set) Rules() []*Rule {
	list := make([]*Rule, len(s.rules))
	for i := range s.rules {
		list[i] = s.rules[i].rule
	}
	return list
}

// Match appends to dst the rules an event of eventType with data matches, in
// evaluation order, and returns the extended slice. When no other rule
// matches, the fallback rules that hold are returned instead.
//
// data must be a valid JSON object, as the rule-engine checks before it
// evaluates an event: Match reads only what the rules need and does not
// validate the rest. It returns an error when data is not an object or
// when it meets broken JSON on its way, and never reads outside data.
func (s *Set) Match(eventType string, data []byte, dst []*Rule) ([]*Rule, error) {
	st := s.states.Get().(*evalState)
	defer s.putState(st)
	if err := st.extract(s.plan, data); err != nil {
		return dst, fmt.Errorf("read event data: %w", err)
	}

	matched := s.matchRegular(st, eventType)
	if len(matched) == 0 {
		for i := s.regular; i < len(s.rules); i++ {
			if s.rules[i].holds(st, eventType) {
				dst = append(dst, s.rules[i].rule)
			}
		}
		return dst, nil
	}
	for _, i := range matched {
		dst = append(dst, s.rules[i].rule)
	}
	return dst, nil
}

func (s *Set) putState(st *evalState) {
	st.release()
	s.states.Put(st)
}

// matchRegular returns the positions of the regular rules that hold, in
// evaluation order: the candidates the index finds, then the rules it
// does not cover.
func (s *Set) matchRegular(st *evalState, eventType string) []int {
	st.hitEpoch++
	matched := st.matched[:0]
	matched = s.index.candidates(s, st, eventType, matched)
	indexed := len(matched) > 0
	for _, i := range s.index.rest {
		if s.rules[i].holds(st, eventType) {
			matched = append(matched, i)
		}
	}
	if indexed {
		slices.Sort(matched)
	}
	st.matched = matched
	return matched
}

// testOnce appends to matched each rule of bucket that holds, testing each
// rule at most once per event.
func (s *Set) testOnce(st *evalState, eventType string, bucket []int, matched []int) []int {
	for _, i := range bucket {
		if st.hits[i] == st.hitEpoch {
			continue
		}
		st.hits[i] = st.hitEpoch
		if s.rules[i].holds(st, eventType) {
			matched = append(matched, i)
		}
	}
	return matched
}
