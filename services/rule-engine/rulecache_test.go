package ruleengine

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/store"
)

func TestCompileSetsSkipsInvalidRules(t *testing.T) {
	sink := []store.RuleSink{{ID: "k1", Name: "alerts", Type: "webhook"}}
	stored := []store.Rule{
		{ID: "r1", SourceName: "shop", Name: "big", Sinks: sink, Version: 3,
			Condition: json.RawMessage(`{"field": "amount", "operator": ">", "value": 500}`)},
		{ID: "r2", SourceName: "shop", Name: "broken", Sinks: sink,
			Condition: json.RawMessage(`{"field": "amount", "operator": "~=", "value": 500}`)},
		{ID: "r3", SourceName: "shop", Name: "rest", Sinks: sink, Fallback: true},
		{ID: "r4", SourceName: "crm", Name: "all", Sinks: sink, Condition: json.RawMessage(`null`)},
		{ID: "r5", SourceName: "billing", Name: "only-broken", Sinks: sink,
			Condition: json.RawMessage(`{"all": "not a list"}`)},
		{ID: "r6", SourceName: "shop", Name: "bad-filter", Sinks: sink, EventType: "purchase*"},
		{ID: "r7", SourceName: "crm", Name: "refunds", Sinks: sink, EventType: "refund.*"},
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	sets, count, err := compileSets(context.Background(), stored, log)
	if err != nil {
		t.Fatal(err)
	}
	if count != 4 {
		t.Errorf("rules compiled = %d, want 4", count)
	}
	if sets["billing"] != nil {
		t.Errorf("billing has a rule set, want none: its only rule is invalid")
	}

	tests := []struct {
		name   string
		source string
		data   string
		want   []string
	}{
		{"condition holds", "shop", `{"amount": 900}`, []string{"r1"}},
		{"fallback when nothing else matched", "shop", `{"amount": 100}`, []string{"r3"}},
		{"null condition matches all", "crm", `{}`, []string{"r4"}},
	}
	refunds, err := sets["crm"].Match("refund.issued", []byte(`{}`), nil)
	if err != nil || len(refunds) != 2 || refunds[1].ID != "r7" {
		t.Errorf("crm rules for refund.issued = %v, %v; want r4 and r7", refunds, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matched, err := sets[tt.source].Match("purchase.completed", []byte(tt.data), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range matched {
				got = append(got, r.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matched rules (-want +got):\n%s", diff)
			}
		})
	}
}
