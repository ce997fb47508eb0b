package rules

import (
	"fmt"
	"sort"

	"github.com/valyala/fastjson"

	"github.com/zenith-hq/zenith/pkg/action"
)

// Rule is one rule of a source, as stored.
type Rule struct {
	ID      string
	Name    string
	Version int64
	// EventType, when not empty, limits the rule to events of that type.
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
// concurrent use.
type Set struct {
	rules     []compiled
	fallbacks []compiled
	parsers   fastjson.ParserPool
}

type compiled struct {
	rule *Rule
	test predicate
}

// NewSet compiles rules into a Set. A rule whose condition cannot compile is
// an error naming the rule.
func NewSet(rules []Rule) (*Set, error) {
	sorted := make([]*Rule, len(rules))
	for i := range rules {
		sorted[i] = &rules[i]
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Priority != sorted[j].Priority {
			return sorted[i].Priority > sorted[j].Priority
		}
		return sorted[i].Name < sorted[j].Name
	})

	s := &Set{}
	for _, r := range sorted {
		c := compiled{rule: r}
		if r.Condition != nil {
			test, err := compile(r.Condition, "condition")
			if err != nil {
				return nil, fmt.Errorf("rule %q: %w", r.Name, err)
			}
			c.test = test
		}
		if r.Fallback {
			s.fallbacks = append(s.fallbacks, c)
		} else {
			s.rules = append(s.rules, c)
		}
	}
	return s, nil
}

// Len returns the number of rules in the set, fallbacks included.
func (s *Set) Len() int {
	return len(s.rules) + len(s.fallbacks)
}

// Match appends to dst the rules an event of eventType with data matches, in
// priority order, and returns the extended slice. When no other rule matches,
// the fallback rules whose type filter fits are returned instead. An error
// means data is not a JSON object.
func (s *Set) Match(eventType string, data []byte, dst []*Rule) ([]*Rule, error) {
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	root, err := p.ParseBytes(data)
	if err != nil {
		return dst, fmt.Errorf("parse event data: %w", err)
	}
	if root.Type() != fastjson.TypeObject {
		return dst, fmt.Errorf("parse event data: not a JSON object")
	}

	before := len(dst)
	dst = appendMatches(dst, s.rules, eventType, root)
	if len(dst) == before {
		dst = appendMatches(dst, s.fallbacks, eventType, root)
	}
	return dst, nil
}

func appendMatches(dst []*Rule, list []compiled, eventType string, root *fastjson.Value) []*Rule {
	for _, c := range list {
		if c.rule.EventType != "" && c.rule.EventType != eventType {
			continue
		}
		if c.test == nil || c.test(root) {
			dst = append(dst, c.rule)
		}
	}
	return dst
}
