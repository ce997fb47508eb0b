package rules_test

import (
	"fmt"
	"testing"

	"github.com/zenith-hq/zenith/pkg/rules"
)

// pairingValues are values of every JSON type an event field can hold,
// including arrays of each and nothing at all.
var pairingValues = []string{
	"", `null`, `true`, `false`, `0`, `-1.5`, `42`, `9007199254740993`, `1e400`,
	`""`, `"42"`, `"VIP"`, `"vip"`, `"b"`, `"Straße"`, `{}`, `{"x":1}`,
	`[]`, `[null]`, `[true]`, `[42, "VIP"]`, `["vip", "new"]`, `[[42]]`, `[{"x":1}]`,
}

// pairingConditions use every operator with every type of value it takes.
var pairingConditions = []string{
	`"==", "value": 42`, `"==", "value": 42.0`, `"==", "value": "VIP"`, `"==", "value": true`, `"==", "value": false`,
	`"!=", "value": 42`, `"!=", "value": "VIP"`, `"!=", "value": true`,
	`">", "value": 0`, `">=", "value": 42`, `"<", "value": "c"`, `"<=", "value": "VIP"`,
	`"in", "value": [42, 0]`, `"in", "value": ["VIP", "b"]`, `"in", "value": [true]`,
	`"not_in", "value": [42]`, `"not_in", "value": ["VIP"]`, `"not_in", "value": [false]`,
	`"contains", "value": "IP"`, `"contains", "value": 42`, `"contains", "value": true`, `"contains", "value": "vip"`,
	`"starts_with", "value": "V"`, `"ends_with", "value": "ip"`, `"equals_ignore_case", "value": "vip"`,
	`"equals_ignore_case", "value": "STRASSE"`, `"matches", "value": "^[A-Z]+$"`, `"matches", "value": "4"`,
	`"between", "value": [0, 50]`, `"between", "value": ["a", "c"]`,
	`"exists"`, `"exists", "value": false`,
}

// TestEveryOperatorAndTypePairing evaluates every operator, with every
// type of value it takes, on a field of every type, and checks the
// evaluator, Explain and the reference interpreter agree.
func TestEveryOperatorAndTypePairing(t *testing.T) {
	for _, cond := range pairingConditions {
		raw := `{"field": "f", "operator": ` + cond + `}`
		c := mustCondition(t, raw)
		set, err := rules.NewSet([]rules.Rule{{Name: "r", Condition: c}})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range pairingValues {
			data := `{}`
			if v != "" {
				data = fmt.Sprintf(`{"f": %s}`, v)
			}
			matched, err := set.Match("test.event", []byte(data), nil)
			if err != nil {
				t.Fatalf("Match(%s): %v", data, err)
			}
			want, ok := referenceHolds(c, []byte(data))
			if !ok {
				t.Fatalf("the reference interpreter could not judge %s", data)
			}
			if got := len(matched) == 1; got != want {
				t.Errorf("%s on %s: Match %v, reference %v", raw, data, got, want)
			}
			explained, err := set.Explain("test.event", []byte(data))
			if err != nil || explained[0].Matched != want {
				t.Errorf("%s on %s: Explain %+v (%v), reference %v", raw, data, explained, err, want)
			}
		}
	}
}
