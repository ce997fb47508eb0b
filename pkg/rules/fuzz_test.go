package rules_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/rules/workload"
)

// The fuzz targets run their seed corpus (testdata/fuzz) with every `go
// test`; `make fuzz` explores further for a few seconds each.

// FuzzParseCondition checks that the parser never panics, that what it
// accepts compiles, and that an accepted condition written back as JSON
// reads the same.
func FuzzParseCondition(f *testing.F) {
	f.Add([]byte(`{"all":[{"field":"amount","operator":">","value":500},{"field":"user.segment","operator":"in","value":["VIP","staff"]}]}`))
	f.Add([]byte(`{"not":{"field":"a\\.b","operator":"matches","value":"^x+$"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := rules.ParseCondition(raw, "condition")
		if err != nil {
			if _, ok := err.(*rules.ValidationError); !ok {
				t.Fatalf("error %T is not a *ValidationError: %v", err, err)
			}
			return
		}
		if _, err := rules.NewSet([]rules.Rule{{Name: "r", Condition: c}}); err != nil {
			t.Fatalf("ParseCondition accepted %s, NewSet refused it: %v", raw, err)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := rules.ParseCondition(again, "condition")
		if err != nil {
			t.Fatalf("%s written back as %s no longer parses: %v", raw, again, err)
		}
		if diff := cmp.Diff(c, c2); diff != "" {
			t.Fatalf("%s written back as %s reads differently:\n%s", raw, again, diff)
		}
	})
}

// fuzzRules exercise every operator, fan-out over arrays, indexes,
// escapes, the equality index and a fallback.
var fuzzRules = []struct{ name, eventType, condition string }{
	{"eq-num", "", `{"field":"amount","operator":"==","value":742.5}`},
	{"gt", "purchase.*", `{"field":"amount","operator":">","value":500}`},
	{"seed", "purchase.completed", `{"all":[{"field":"amount","operator":">","value":500},{"field":"user.segment","operator":"==","value":"VIP"}]}`},
	{"ne", "", `{"field":"user.segment","operator":"!=","value":"VIP"}`},
	{"in", "", `{"all":[{"field":"user.country","operator":"in","value":["FR","DE","IT"]},{"field":"type","operator":"==","value":"purchase.completed"}]}`},
	{"not-in", "", `{"field":"currency","operator":"not_in","value":["EUR","USD"]}`},
	{"in-num", "", `{"field":"n","operator":"in","value":[1,2.5,9007199254740993,1e400]}`},
	{"contains", "", `{"field":"user.tags","operator":"contains","value":"b2b"}`},
	{"contains-str", "", `{"field":"user.email","operator":"contains","value":"@example"}`},
	{"starts", "", `{"field":"items.sku","operator":"starts_with","value":"JACKET"}`},
	{"ends", "", `{"field":"items.name","operator":"ends_with","value":"M"}`},
	{"fold", "", `{"field":"shipping.address.city","operator":"equals_ignore_case","value":"LYON"}`},
	{"matches", "", `{"field":"device.app","operator":"matches","value":"^shop-[a-z]+/5\\."}`},
	{"between", "", `{"field":"items.0.price","operator":"between","value":[10,20]}`},
	{"exists", "", `{"field":"coupon","operator":"exists"}`},
	{"absent", "", `{"field":"discount","operator":"exists","value":false}`},
	{"escaped", "", `{"field":"a\\.b","operator":"==","value":true}`},
	{"deep", "", `{"any":[{"not":{"field":"items.qty","operator":"<=","value":2}},{"field":"x.y.z","operator":">=","value":"m"}]}`},
	{"archive", "", ""},
}

// fuzzSet compiles fuzzRules; the last is a fallback.
func fuzzSet(t testing.TB) ([]rules.Rule, *rules.Set) {
	list := make([]rules.Rule, len(fuzzRules))
	for i, r := range fuzzRules {
		list[i] = rules.Rule{Name: r.name, EventType: r.eventType}
		if r.condition != "" {
			list[i].Condition = mustCondition(t, r.condition)
		} else {
			list[i].Fallback = true
		}
	}
	set, err := rules.NewSet(list)
	if err != nil {
		t.Fatal(err)
	}
	return list, set
}

// FuzzMatch checks that Match never panics on any data and, on valid JSON,
// agrees with the reference interpreter and with Explain.
func FuzzMatch(f *testing.F) {
	f.Add([]byte(workload.Event()))
	f.Add([]byte(`{"amount":742.5,"amount":1,"user":{"segment":"VIP","tags":["b2b"]},"a.b":true,"a":{"b":false}}`))
	list, set := fuzzSet(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		matched, err := set.Match(workload.EventType, data, nil)
		if !json.Valid(data) || !utf8.Valid(data) {
			return
		}
		want, ok := referenceMatch(list, workload.EventType, data)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("Match(%s): %v", data, err)
		}
		if diff := cmp.Diff(want, names(matched)); diff != "" {
			t.Fatalf("Match(%s) and the reference (-) disagree:\n%s", data, diff)
		}
		explained, err := set.Explain(workload.EventType, data)
		if err != nil {
			t.Fatalf("Explain(%s): %v", data, err)
		}
		fired := []string{}
		for _, e := range explained {
			if e.Matched {
				fired = append(fired, e.Rule.Name)
			}
		}
		if diff := cmp.Diff(want, fired); diff != "" {
			t.Fatalf("Explain(%s) and the reference (-) disagree:\n%s", data, diff)
		}
	})
}

// FuzzCondition checks any condition on any event: no panic, and on valid
// input the compiled evaluator agrees with the reference interpreter.
func FuzzCondition(f *testing.F) {
	f.Add([]byte(`{"field":"items.price","operator":">","value":100}`), []byte(`{"items":[{"price":5},{"price":150}]}`))
	f.Add([]byte(`{"field":"n","operator":"==","value":1.0}`), []byte(`{"n":1e0}`))
	f.Fuzz(func(t *testing.T, rawCondition, data []byte) {
		c, err := rules.ParseCondition(rawCondition, "condition")
		if err != nil {
			return
		}
		set, err := rules.NewSet([]rules.Rule{{Name: "r", Condition: c}})
		if err != nil {
			t.Fatalf("NewSet(%s): %v", rawCondition, err)
		}
		matched, err := set.Match("test.event", data, nil)
		if !json.Valid(data) || !utf8.Valid(data) {
			return
		}
		want, ok := referenceHolds(c, data)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("Match(%s): %v", data, err)
		}
		if got := len(matched) == 1; got != want {
			t.Fatalf("%s on %s: Match %v, reference %v", rawCondition, data, got, want)
		}
	})
}
