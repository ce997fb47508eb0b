package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/store"
)

// TestRules evaluates a sample event against rules, dispatching nothing.
func (s *Server) TestRules(ctx context.Context, req *connect.Request[zenithv1.TestRulesRequest]) (*connect.Response[zenithv1.TestRulesResponse], error) {
	eventType, data, err := sampleEvent(req.Msg.GetEvent())
	if err != nil {
		return nil, err
	}
	list, err := s.rulesToTest(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	set, err := rules.NewSet(list)
	if err != nil {
		return nil, err
	}
	results, err := evaluate(set, list, eventType, data)
	if err != nil {
		return nil, invalid("event.data", "%v", err)
	}

	resp := &zenithv1.TestRulesResponse{Results: results}
	for _, r := range results {
		if r.GetMatched() {
			resp.Matched = append(resp.Matched, r.GetRule())
		}
	}
	return connect.NewResponse(resp), nil
}

// sampleEvent reads the type and data of a test's event.
func sampleEvent(e *zenithv1.Event) (string, []byte, error) {
	if e == nil {
		return "", nil, invalid("event", "is required")
	}
	if !event.ValidType(e.GetType()) {
		return "", nil, invalid("event.type", "must be dot-separated words of letters, digits, '-' or '_'")
	}
	var data []byte
	switch payload := e.GetPayload().(type) {
	case *zenithv1.Event_DataJson:
		data = payload.DataJson
	case *zenithv1.Event_Data:
		var err error
		if data, err = protojson.Marshal(payload.Data); err != nil {
			return "", nil, invalid("event.data", "cannot be written as JSON")
		}
	default:
		return "", nil, invalid("event.data", "is required")
	}
	return e.GetType(), data, nil
}

// rulesToTest returns the draft of a test, or the stored rules it names:
// one rule, or every enabled rule of the source.
func (s *Server) rulesToTest(ctx context.Context, msg *zenithv1.TestRulesRequest) ([]rules.Rule, error) {
	if msg.GetDraft() != nil {
		return draftRule(msg.GetDraft())
	}
	src, err := s.st.SourceByName(ctx, msg.GetSource())
	if err != nil {
		return nil, orNotFound(err, "source", msg.GetSource())
	}
	var stored []store.Rule
	if msg.GetRule() != "" {
		r, err := s.st.RuleByName(ctx, src.ID, msg.GetRule())
		if err != nil {
			return nil, orNotFound(err, "rule", src.Name+"/"+msg.GetRule())
		}
		stored = []store.Rule{r}
	} else if stored, err = s.st.ListRules(ctx, true); err != nil {
		return nil, err
	}

	var list []rules.Rule
	for _, sr := range stored {
		if sr.SourceID != src.ID {
			continue
		}
		r, err := compileRule(sr)
		if err != nil {
			return nil, fmt.Errorf("stored rule %s/%s: %w", sr.SourceName, sr.Name, err)
		}
		list = append(list, r)
	}
	return list, nil
}

// draftRule checks a rule that is not saved, as saving it would, except
// that its source and sinks need not exist.
func draftRule(draft *zenithv1.Rule) ([]rules.Rule, error) {
	rule, err := fromRule(draft, "draft")
	if err != nil {
		return nil, err
	}
	if err := rule.Validate("draft"); err != nil {
		return nil, err
	}
	stored := store.Rule{
		Name: rule.Name, SourceName: rule.Source, EventType: rule.EventType,
		Fallback: rule.Fallback, Priority: rule.Priority, Enabled: rule.IsEnabled(),
	}
	if rule.HasCondition() {
		stored.Condition = rule.Condition
	}
	for _, name := range rule.Actions {
		stored.Sinks = append(stored.Sinks, store.RuleSink{Name: name})
	}
	r, err := compileRule(stored)
	if err != nil {
		return nil, err
	}
	return []rules.Rule{r}, nil
}

// compileRule converts a stored rule to the form pkg/rules evaluates.
func compileRule(sr store.Rule) (rules.Rule, error) {
	r := rules.Rule{
		ID: sr.ID, Name: sr.Name, Version: sr.Version, EventType: sr.EventType,
		Fallback: sr.Fallback, Priority: sr.Priority,
	}
	for _, k := range sr.Sinks {
		r.Sinks = append(r.Sinks, action.SinkRef{ID: k.ID, Name: k.Name, Type: k.Type})
	}
	if config.FromStoredRule(sr).HasCondition() {
		cond, err := rules.ParseCondition(sr.Condition, "condition")
		if err != nil {
			return rules.Rule{}, err
		}
		r.Condition = cond
	}
	return r, nil
}

// evaluate judges the event against every rule of set, in evaluation order.
//
// TODO: report each condition node's value and verdict with rules.Set's
// explain mode once pkg/rules has it; until then a result says whether the
// rule matched, whether its type filter let the event through and, for a
// rule that did not match, that its condition failed, without which node.
func evaluate(set *rules.Set, list []rules.Rule, eventType string, data []byte) ([]*zenithv1.RuleResult, error) {
	matched, err := set.Match(eventType, data, nil)
	if err != nil {
		return nil, err
	}
	fired := map[*rules.Rule]bool{}
	for _, r := range matched {
		fired[r] = true
	}
	var results []*zenithv1.RuleResult
	for _, r := range evaluationOrder(list) {
		res := &zenithv1.RuleResult{
			Rule: r.Name, Version: r.Version, Matched: fired[r],
			TypeMatched: r.EventType == "" || r.EventType == eventType,
		}
		for _, k := range r.Sinks {
			res.Actions = append(res.Actions, k.Name)
		}
		res.Reason, err = matchReason(r, res, eventType, data)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	return results, nil
}

// matchReason says in one line why r matched or not.
func matchReason(r *rules.Rule, res *zenithv1.RuleResult, eventType string, data []byte) (string, error) {
	switch {
	case !res.TypeMatched:
		return fmt.Sprintf("event type %q is not %q", eventType, r.EventType), nil
	case res.Matched && r.Condition == nil:
		return "no condition: every event of the type matches", nil
	case res.Matched:
		return "condition held", nil
	}
	alone, err := rules.NewSet([]rules.Rule{*r})
	if err != nil {
		return "", err
	}
	held, err := alone.Match(eventType, data, nil)
	if err != nil {
		return "", err
	}
	if len(held) > 0 && r.Fallback {
		return "fallback: another rule matched", nil
	}
	return "condition did not hold", nil
}

// evaluationOrder returns pointers to the rules of list in the order a Set
// built from list evaluates them: by priority, highest first, then by name,
// fallbacks last. A Set refers to the rules of the list it was built from,
// so these are the pointers its matches hold.
func evaluationOrder(list []rules.Rule) []*rules.Rule {
	order := make([]*rules.Rule, len(list))
	for i := range list {
		order[i] = &list[i]
	}
	slices.SortStableFunc(order, func(a, b *rules.Rule) int {
		if a.Fallback != b.Fallback {
			if a.Fallback {
				return 1
			}
			return -1
		}
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return strings.Compare(a.Name, b.Name)
	})
	return order
}
