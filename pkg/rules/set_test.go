package rules_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/rules"
)

// mustCondition parses a condition or fails the test.
func mustCondition(t testing.TB, raw string) *rules.Condition {
	t.Helper()
	c, err := rules.ParseCondition([]byte(raw), "condition")
	if err != nil {
		t.Fatalf("ParseCondition(%s): %v", raw, err)
	}
	return c
}

// names returns the names of matched rules, in order.
func names(matched []*rules.Rule) []string {
	list := make([]string, len(matched))
	for i, r := range matched {
		list[i] = r.Name
	}
	return list
}

// shopPurchase is the kind of event the ingestor accepts from a shop.
const shopPurchase = `{
	"order_id": "A-1001",
	"amount": 742.5,
	"quantity": 3,
	"currency": "EUR",
	"gift": false,
	"coupon": null,
	"user": {"id": 42, "segment": "VIP", "address": {"country": "FR"}},
	"items": [
		{"sku": "TSHIRT-M", "price": 20},
		{"sku": "HOODIE-L", "price": 702.5}
	]
}`

func TestMatchComparison(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		want      bool
	}{
		// Numbers compare as numbers.
		{"number >", `{"field":"amount","operator":">","value":500}`, true},
		{"number > false", `{"field":"amount","operator":">","value":742.5}`, false},
		{"number >=", `{"field":"amount","operator":">=","value":742.5}`, true},
		{"number <", `{"field":"amount","operator":"<","value":1000}`, true},
		{"number <=", `{"field":"amount","operator":"<=","value":742.4}`, false},
		{"number ==", `{"field":"quantity","operator":"==","value":3}`, true},
		{"number == written as float", `{"field":"quantity","operator":"==","value":3.0}`, true},
		{"number == with exponent", `{"field":"amount","operator":"==","value":7.425e2}`, true},
		{"number !=", `{"field":"quantity","operator":"!=","value":4}`, true},
		{"number != same", `{"field":"quantity","operator":"!=","value":3}`, false},
		{"negative number", `{"field":"amount","operator":">","value":-1}`, true},

		// Strings compare byte by byte.
		{"string ==", `{"field":"currency","operator":"==","value":"EUR"}`, true},
		{"string == is case-sensitive", `{"field":"currency","operator":"==","value":"eur"}`, false},
		{"string !=", `{"field":"currency","operator":"!=","value":"USD"}`, true},
		{"string <", `{"field":"currency","operator":"<","value":"USD"}`, true},
		{"string >", `{"field":"order_id","operator":">","value":"A-1000"}`, true},
		{"string >=", `{"field":"order_id","operator":">=","value":"A-1001"}`, true},
		{"string <= by bytes", `{"field":"currency","operator":"<=","value":"EU"}`, false},

		// Booleans.
		{"bool == false", `{"field":"gift","operator":"==","value":false}`, true},
		{"bool == true", `{"field":"gift","operator":"==","value":true}`, false},
		{"bool != true", `{"field":"gift","operator":"!=","value":true}`, true},
		{"bool != false", `{"field":"gift","operator":"!=","value":false}`, false},

		// Dot paths into objects and arrays.
		{"nested", `{"field":"user.segment","operator":"==","value":"VIP"}`, true},
		{"deeply nested", `{"field":"user.address.country","operator":"==","value":"FR"}`, true},
		{"array index", `{"field":"items.1.price","operator":">","value":700}`, true},
		{"array index first", `{"field":"items.0.sku","operator":"==","value":"TSHIRT-M"}`, true},
		{"array index past the end", `{"field":"items.2.price","operator":">","value":0}`, false},
		{"array index past the end with !=", `{"field":"items.2.price","operator":"!=","value":0}`, false},

		// A missing field is false, whatever the operator.
		{"missing ==", `{"field":"discount","operator":"==","value":0}`, false},
		{"missing !=", `{"field":"discount","operator":"!=","value":0}`, false},
		{"missing string !=", `{"field":"user.tier","operator":"!=","value":"gold"}`, false},
		{"missing bool !=", `{"field":"express","operator":"!=","value":true}`, false},
		{"path through a string", `{"field":"currency.code","operator":"!=","value":"EUR"}`, false},
		{"path through a number", `{"field":"amount.value","operator":">","value":0}`, false},

		// A field of another JSON type is false, whatever the operator.
		{"number field, string value", `{"field":"quantity","operator":"==","value":"3"}`, false},
		{"number field, string value !=", `{"field":"quantity","operator":"!=","value":"3"}`, false},
		{"string field, number value", `{"field":"order_id","operator":"!=","value":1001}`, false},
		{"bool field, string value", `{"field":"gift","operator":"!=","value":"true"}`, false},
		{"bool field, number value", `{"field":"gift","operator":"==","value":0}`, false},
		{"number field, bool value", `{"field":"quantity","operator":"!=","value":true}`, false},
		{"null field ==", `{"field":"coupon","operator":"==","value":"SPRING"}`, false},
		{"null field !=", `{"field":"coupon","operator":"!=","value":"SPRING"}`, false},
		{"object field !=", `{"field":"user","operator":"!=","value":"VIP"}`, false},
		{"array field !=", `{"field":"items","operator":"!=","value":0}`, false},

		// Composites.
		{"all true", `{"all":[{"field":"amount","operator":">","value":500},{"field":"user.segment","operator":"==","value":"VIP"}]}`, true},
		{"all one false", `{"all":[{"field":"amount","operator":">","value":500},{"field":"user.segment","operator":"==","value":"NEW"}]}`, false},
		{"any one true", `{"any":[{"field":"amount","operator":">","value":5000},{"field":"user.segment","operator":"==","value":"VIP"}]}`, true},
		{"any none true", `{"any":[{"field":"amount","operator":">","value":5000},{"field":"user.segment","operator":"==","value":"NEW"}]}`, false},
		{"not false", `{"not":{"field":"currency","operator":"==","value":"USD"}}`, true},
		{"not true", `{"not":{"field":"currency","operator":"==","value":"EUR"}}`, false},
		{"not of missing asks for absence", `{"not":{"field":"discount","operator":"==","value":0}}`, true},
		{"not of type mismatch", `{"not":{"field":"quantity","operator":"==","value":"3"}}`, true},
		{"double not", `{"not":{"not":{"field":"gift","operator":"==","value":false}}}`, true},
		{
			"nested composites",
			`{"all":[
				{"any":[{"field":"user.address.country","operator":"==","value":"DE"},{"field":"user.address.country","operator":"==","value":"FR"}]},
				{"not":{"any":[{"field":"gift","operator":"==","value":true},{"field":"coupon","operator":"==","value":"X"}]}}
			]}`,
			true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := rules.NewSet([]rules.Rule{{Name: "r", Condition: mustCondition(t, tt.condition)}})
			if err != nil {
				t.Fatalf("NewSet: %v", err)
			}
			matched, err := set.Match("purchase.completed", []byte(shopPurchase), nil)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got := len(matched) == 1; got != tt.want {
				t.Errorf("%s matched = %v, want %v", tt.condition, got, tt.want)
			}
		})
	}
}

func TestMatchRealPayload(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{
			Name:      "paid-org-plan",
			EventType: "marketplace_purchase.purchased",
			Condition: mustCondition(t, `{"all":[
				{"field":"marketplace_purchase.account.type","operator":"==","value":"Organization"},
				{"field":"marketplace_purchase.plan.monthly_price_in_cents","operator":">=","value":1000},
				{"field":"marketplace_purchase.on_free_trial","operator":"==","value":false},
				{"field":"marketplace_purchase.plan.bullets.1","operator":"==","value":"Because Basic "}
			]}`),
		},
		{
			Name:      "trial-ending",
			EventType: "marketplace_purchase.purchased",
			Condition: mustCondition(t, `{"field":"marketplace_purchase.free_trial_ends_on","operator":"!=","value":""}`),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	matched, err := set.Match("marketplace_purchase.purchased", []byte(purchasePayload), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"paid-org-plan"}, names(matched)); diff != "" {
		t.Errorf("matched rules (-want +got):\n%s", diff)
	}
}

func TestMatchSet(t *testing.T) {
	vip := `{"field":"user.segment","operator":"==","value":"VIP"}`
	big := `{"field":"amount","operator":">","value":500}`
	never := `{"field":"amount","operator":"<","value":0}`

	tests := []struct {
		name      string
		rules     []rules.Rule
		eventType string
		want      []string
	}{
		{
			name:      "no rules",
			eventType: "purchase.completed",
			want:      []string{},
		},
		{
			name: "rule without condition matches its type",
			rules: []rules.Rule{
				{Name: "all-purchases", EventType: "purchase.completed"},
			},
			eventType: "purchase.completed",
			want:      []string{"all-purchases"},
		},
		{
			name: "event type filter",
			rules: []rules.Rule{
				{Name: "refunds", EventType: "purchase.refunded", Condition: mustCondition(t, big)},
				{Name: "any-type", Condition: mustCondition(t, big)},
				{Name: "completed", EventType: "purchase.completed", Condition: mustCondition(t, big)},
			},
			eventType: "purchase.completed",
			want:      []string{"any-type", "completed"},
		},
		{
			name: "type filter is exact, not a prefix",
			rules: []rules.Rule{
				{Name: "purchase", EventType: "purchase"},
				{Name: "completed-v2", EventType: "purchase.completed.v2"},
			},
			eventType: "purchase.completed",
			want:      []string{},
		},
		{
			name: "priority order, then name",
			rules: []rules.Rule{
				{Name: "b-low", Priority: -1},
				{Name: "c-mid", Priority: 5, Condition: mustCondition(t, vip)},
				{Name: "a-mid", Priority: 5},
				{Name: "z-high", Priority: 10, Condition: mustCondition(t, big)},
				{Name: "a-zero"},
			},
			eventType: "purchase.completed",
			want:      []string{"z-high", "a-mid", "c-mid", "a-zero", "b-low"},
		},
		{
			name: "fallback does not fire when a rule matched",
			rules: []rules.Rule{
				{Name: "archive", Fallback: true, Priority: 100},
				{Name: "vip", Condition: mustCondition(t, vip)},
			},
			eventType: "purchase.completed",
			want:      []string{"vip"},
		},
		{
			name: "fallback fires when nothing matched",
			rules: []rules.Rule{
				{Name: "archive", Fallback: true},
				{Name: "never", Condition: mustCondition(t, never)},
				{Name: "refunds", EventType: "purchase.refunded"},
			},
			eventType: "purchase.completed",
			want:      []string{"archive"},
		},
		{
			name: "fallbacks keep priority order and their own filters",
			rules: []rules.Rule{
				{Name: "archive", Fallback: true},
				{Name: "refund-archive", Fallback: true, EventType: "purchase.refunded"},
				{Name: "big-archive", Fallback: true, Priority: 1, Condition: mustCondition(t, big)},
				{Name: "tiny-archive", Fallback: true, Priority: 2, Condition: mustCondition(t, never)},
			},
			eventType: "purchase.completed",
			want:      []string{"big-archive", "archive"},
		},
		{
			name: "only a fallback of another type",
			rules: []rules.Rule{
				{Name: "refund-archive", Fallback: true, EventType: "purchase.refunded"},
			},
			eventType: "purchase.completed",
			want:      []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := rules.NewSet(tt.rules)
			if err != nil {
				t.Fatalf("NewSet: %v", err)
			}
			if set.Len() != len(tt.rules) {
				t.Errorf("Len() = %d, want %d", set.Len(), len(tt.rules))
			}
			matched, err := set.Match(tt.eventType, []byte(shopPurchase), nil)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if diff := cmp.Diff(tt.want, names(matched)); diff != "" {
				t.Errorf("matched rules (-want +got):\n%s", diff)
			}
		})
	}
}

// Match appends to dst; what was there already must neither be lost nor
// count as a match that suppresses the fallback.
func TestMatchAppends(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{Name: "archive", Fallback: true},
		{Name: "never", Condition: mustCondition(t, `{"field":"amount","operator":"<","value":0}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	earlier := &rules.Rule{Name: "earlier"}
	matched, err := set.Match("purchase.completed", []byte(shopPurchase), []*rules.Rule{earlier})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"earlier", "archive"}, names(matched)); diff != "" {
		t.Errorf("matched rules (-want +got):\n%s", diff)
	}
}

// Match does not validate data (the rule-engine does), but refuses what is
// not an object and broken JSON it meets on the way to a field.
func TestMatchBadData(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{Name: "big", Condition: mustCondition(t, `{"field":"amount","operator":">","value":5}`)},
		{Name: "archive", Fallback: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{
		``, `  `, `[{"amount":1}]`, `"text"`, `42`, `null`,
		`{"amount":`, `{"amount":}`, `{"amount" 7}`, `{"a":1 "amount":7}`, `{"amount":[1,}`,
		`{"amount":tru}`, `{"amount":1.}`, `{"amount":"unterminated}`, `{"amount":"\x"}`, `{amount:7}`,
	} {
		matched, err := set.Match("purchase.completed", []byte(data), nil)
		if err == nil {
			t.Errorf("Match(%q) = %v, want an error", data, names(matched))
		}
		if len(matched) != 0 {
			t.Errorf("Match(%q) matched %v despite the error", data, names(matched))
		}
	}
}

// Match stops reading an event once it has every field its rules read, so
// what follows is neither decoded nor checked.
func TestMatchStopsReadingWhenDone(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{Name: "big", Condition: mustCondition(t, `{"field":"amount","operator":">","value":5}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{`{"amount":7`, `{"amount":7, "rest": [}`, `{"amount":7} trailing`} {
		matched, err := set.Match("purchase.completed", []byte(data), nil)
		if err != nil || len(matched) != 1 {
			t.Errorf("Match(%q) = %v, %v; want [big]", data, names(matched), err)
		}
	}
}

func TestNewSetRefusesUncompilableCondition(t *testing.T) {
	// A condition built by hand rather than parsed: numbers are float64,
	// which compile does not accept.
	cond := &rules.Condition{Field: "amount", Operator: ">", Value: 500.0}
	_, err := rules.NewSet([]rules.Rule{{Name: "ok"}, {Name: "hand-made", Condition: cond}})
	want := `rule "hand-made": condition.value: must be a number, a string or a boolean`
	if err == nil || err.Error() != want {
		t.Errorf("NewSet error = %v, want %q", err, want)
	}
}

// A Set is shared by every consumer goroutine of the rule-engine; run with
// -race.
func TestMatchConcurrent(t *testing.T) {
	set, err := rules.NewSet([]rules.Rule{
		{Name: "vip", Condition: mustCondition(t, `{"field":"user.segment","operator":"==","value":"VIP"}`)},
		{Name: "archive", Fallback: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	events := []struct {
		data string
		want string
	}{
		{`{"user":{"segment":"VIP"}}`, "vip"},
		{`{"user":{"segment":"NEW"}}`, "archive"},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			var dst []*rules.Rule
			for i := range 200 {
				ev := events[(g+i)%len(events)]
				var err error
				dst, err = set.Match("purchase.completed", []byte(ev.data), dst[:0])
				if err != nil || len(dst) != 1 || dst[0].Name != ev.want {
					errs <- fmt.Errorf("Match(%s) = %v, %v; want [%s]", ev.data, names(dst), err, ev.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
