package rules_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/rules/workload"
)

// explainSummary is what the tests compare of an explanation: everything but
// the rule pointer.
type explainSummary struct {
	Rule        string
	Matched     bool
	TypeMatched bool
	Reason      string
	Condition   *rules.ConditionExplanation
}

func summariseExplanations(list []rules.RuleExplanation) []explainSummary {
	out := make([]explainSummary, len(list))
	for i, e := range list {
		out[i] = explainSummary{e.Rule.Name, e.Matched, e.TypeMatched, e.Reason, e.Condition}
	}
	return out
}

func TestExplain(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{Name: "vip", Priority: 10, EventType: "purchase.completed", Condition: mustCondition(t, `{"all":[
			{"field":"amount","operator":">","value":500},
			{"field":"user.segment","operator":"==","value":"VIP"}
		]}`)},
		{Name: "refunds", EventType: "purchase.refunded"},
		{Name: "no-coupon", Condition: mustCondition(t, `{"not":{"field":"coupon.code","operator":"==","value":"SPRING"}}`)},
		{Name: "archive", Fallback: true},
	})
	if err != nil {
		t.Fatal(err)
	}

	got, err := set.Explain("purchase.completed", []byte(`{"amount": 120, "user": {"segment": "VIP"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []explainSummary{
		{
			Rule: "vip", TypeMatched: true, Reason: "condition failed at condition.all[0]",
			Condition: &rules.ConditionExplanation{
				Path: "condition", Kind: "all", Reason: "1 of 2 held (all)",
				Children: []*rules.ConditionExplanation{
					{
						Path: "condition.all[0]", Kind: "comparison", Field: "amount", Operator: ">",
						Value: json.Number("500"), Found: true, Got: json.RawMessage(`120`),
						Reason: "amount is 120, not > 500",
					},
					{
						Path: "condition.all[1]", Kind: "comparison", Field: "user.segment", Operator: "==",
						Value: "VIP", Found: true, Got: json.RawMessage(`"VIP"`), Passed: true,
						Reason: `user.segment is "VIP", == "VIP"`,
					},
				},
			},
		},
		{Rule: "no-coupon", Matched: true, TypeMatched: true, Reason: "condition held",
			Condition: &rules.ConditionExplanation{
				Path: "condition", Kind: "not", Passed: true, Reason: "the inner condition failed",
				Children: []*rules.ConditionExplanation{{
					Path: "condition.not", Kind: "comparison", Field: "coupon.code", Operator: "==",
					Value: "SPRING", Reason: "coupon.code is missing",
				}},
			},
		},
		{Rule: "refunds", Reason: `event type "purchase.completed" is not "purchase.refunded"`},
		{Rule: "archive", TypeMatched: true, Reason: "fallback: another rule matched"},
	}
	if diff := cmp.Diff(want, summariseExplanations(got)); diff != "" {
		t.Errorf("Explain (-want +got):\n%s", diff)
	}
}

func TestExplainFallback(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{Name: "big", Condition: mustCondition(t, `{"field":"amount","operator":">","value":500}`)},
		{Name: "archive", Fallback: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := set.Explain("purchase.completed", []byte(`{"amount": 10}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []explainSummary{
		{Rule: "big", TypeMatched: true, Reason: "condition failed at condition",
			Condition: &rules.ConditionExplanation{
				Path: "condition", Kind: "comparison", Field: "amount", Operator: ">",
				Value: json.Number("500"), Found: true, Got: json.RawMessage(`10`),
				Reason: "amount is 10, not > 500",
			}},
		{Rule: "archive", Matched: true, TypeMatched: true,
			Reason: "fallback: no other rule matched; no condition: every event of its type matches"},
	}
	if diff := cmp.Diff(want, summariseExplanations(got)); diff != "" {
		t.Errorf("Explain (-want +got):\n%s", diff)
	}
}

// Explain and Match must agree on which rules fire, for every event.
func TestExplainAgreesWithMatch(t *testing.T) {
	set, err := rules.NewSet(append(workload.Mixed(100), rules.Rule{Name: "archive", Fallback: true}))
	if err != nil {
		t.Fatal(err)
	}
	events := []string{
		string(workload.Event()),
		string(workload.LateEvent()),
		shopPurchase,
		`{"amount": 900, "currency": "USD", "user": {"segment": "VIP", "country": ["FR", "DE"]}}`,
		`{}`,
	}
	for _, ev := range events {
		matched, err := set.Match(workload.EventType, []byte(ev), nil)
		if err != nil {
			t.Fatal(err)
		}
		explained, err := set.Explain(workload.EventType, []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		var fired []string
		for _, e := range explained {
			if e.Matched {
				fired = append(fired, e.Rule.Name)
			}
		}
		if diff := cmp.Diff(names(matched), fired); diff != "" {
			t.Errorf("event %.60s: Match (-) and Explain (+) disagree:\n%s", ev, diff)
		}
	}
}

func TestExplainRules(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{Name: "archive", Fallback: true, Priority: 99},
		{Name: "b", Priority: 1},
		{Name: "a", Priority: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range set.Rules() {
		got = append(got, r.Name)
	}
	if diff := cmp.Diff([]string{"a", "b", "archive"}, got); diff != "" {
		t.Errorf("Rules() order (-want +got):\n%s", diff)
	}
}

func TestExplainBadData(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{{Name: "all"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{``, `{"amount":`, `[1]`, `null`} {
		if got, err := set.Explain("purchase.completed", []byte(data)); err == nil {
			t.Errorf("Explain(%q) = %v, want an error", data, got)
		}
	}
}
