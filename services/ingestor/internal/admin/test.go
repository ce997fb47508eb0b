package admin

import (
	"context"
	"encoding/json"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

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
	results, err := evaluate(set, eventType, data)
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
		if err := sampleStruct.Check(payload.Data); err != nil {
			return "", nil, fieldInvalid(err)
		}
		var err error
		if data, err = protojson.Marshal(payload.Data); err != nil {
			return "", nil, invalid("event.data", "cannot be written as JSON")
		}
	default:
		return "", nil, invalid("event.data", "is required")
	}
	if err := event.ValidateData(data); err != nil {
		if fe, ok := event.AsFieldError(err); ok {
			return "", nil, invalid("event."+fe.Field, "%s", fe.Problem)
		}
		return "", nil, err
	}
	return e.GetType(), data, nil
}

// sampleStruct checks a sample event's data sent as a Struct, as the
// ingestor checks an event's.
var sampleStruct = event.StructCheck{Root: "event.data", Exact: "data_json", MaxDepth: event.MaxDepth}

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

// evaluate judges the event against every rule of set, in evaluation order,
// with the value each condition read and why it held or not.
func evaluate(set *rules.Set, eventType string, data []byte) ([]*zenithv1.RuleResult, error) {
	explained, err := set.Explain(eventType, data)
	if err != nil {
		return nil, err
	}
	results := make([]*zenithv1.RuleResult, len(explained))
	for i, e := range explained {
		res := &zenithv1.RuleResult{
			Rule: e.Rule.Name, Version: e.Rule.Version, Matched: e.Matched,
			TypeMatched: e.TypeMatched, Reason: e.Reason,
		}
		for _, k := range e.Rule.Sinks {
			res.Actions = append(res.Actions, k.Name)
		}
		if e.Condition != nil {
			if res.Condition, err = toConditionResult(e.Condition); err != nil {
				return nil, err
			}
		}
		results[i] = res
	}
	return results, nil
}

func toConditionResult(c *rules.ConditionExplanation) (*zenithv1.ConditionResult, error) {
	out := &zenithv1.ConditionResult{
		Path: c.Path, Kind: c.Kind, Field: c.Field, Operator: c.Operator,
		Found: c.Found, Passed: c.Passed, Reason: c.Reason,
	}
	if c.Kind == "comparison" && c.Value != nil {
		raw, err := json.Marshal(c.Value)
		if err != nil {
			return nil, fmt.Errorf("condition %s value: %w", c.Path, err)
		}
		out.ValueJson, out.Value = string(raw), approximate(raw)
	}
	if c.Got != nil {
		out.GotJson, out.Got = string(c.Got), approximate(c.Got)
	}
	for _, child := range c.Children {
		converted, err := toConditionResult(child)
		if err != nil {
			return nil, err
		}
		out.Children = append(out.Children, converted)
	}
	return out, nil
}

// approximate is the JSON value raw as a google.protobuf.Value, its
// numbers rounded to doubles; nil for a number no double holds, such as
// 1e400.
func approximate(raw []byte) *structpb.Value {
	var v structpb.Value
	if err := protojson.Unmarshal(raw, &v); err != nil {
		return nil
	}
	return &v
}
