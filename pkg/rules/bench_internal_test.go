package rules

import (
	"testing"
)

// BenchmarkCondition measures one comparison, amount > 500, on a value
// already extracted from the event: the cost a condition adds to a rule.
func BenchmarkCondition(b *testing.B) {
	cond, err := ParseCondition([]byte(`{"field":"amount","operator":">","value":500}`), "condition")
	if err != nil {
		b.Fatal(err)
	}
	p := newPlan()
	test, err := compile(cond, "condition", p)
	if err != nil {
		b.Fatal(err)
	}
	st := newEvalState(p, 1)
	if err := st.extract(p, []byte(`{"id":"evt_01","amount":742.5,"currency":"EUR"}`)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	held := false
	for b.Loop() {
		held = test(st)
	}
	if !held {
		b.Fatal("amount > 500 does not hold for the benchmark event")
	}
}
