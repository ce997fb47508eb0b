package rules_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/rules"
)

func TestParseCondition(t *testing.T) {
	raw := `{"all": [
		{"field": "amount", "operator": ">", "value": 500},
		{"any": [
			{"field": "user.segment", "operator": "==", "value": "VIP"},
			{"not": {"field": "user.trial", "operator": "==", "value": true}}
		]}
	]}`
	got, err := rules.ParseCondition([]byte(raw), "condition")
	if err != nil {
		t.Fatalf("ParseCondition: %v", err)
	}
	want := &rules.Condition{All: []*rules.Condition{
		{Field: "amount", Operator: ">", Value: json.Number("500")},
		{Any: []*rules.Condition{
			{Field: "user.segment", Operator: "==", Value: "VIP"},
			{Not: &rules.Condition{Field: "user.trial", Operator: "==", Value: true}},
		}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseCondition mismatch (-want +got):\n%s", diff)
	}
}

// nest wraps a comparison in depth-1 "not" nodes, giving a tree depth deep.
func nest(depth int) string {
	return strings.Repeat(`{"not":`, depth-1) + `{"field":"a","operator":"==","value":1}` + strings.Repeat(`}`, depth-1)
}

// wide returns an "any" of n comparisons: n+1 nodes.
func wide(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = `{"field":"a","operator":"==","value":1}`
	}
	return `{"any":[` + strings.Join(items, ",") + `]}`
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		path string
		want string // the whole error message
	}{
		{
			name: "unknown operator",
			raw:  `{"all":[{"field":"a","operator":"==","value":1},{"field":"b","operator":"=>","value":2}]}`,
			want: `condition.all[1].operator: unknown operator "=>" (want one of == != > >= < <= in not_in contains starts_with ends_with equals_ignore_case matches between exists)`,
		},
		{
			name: "path prefix is the caller's",
			raw:  `{"any":[{"field":"a","operator":"~","value":1}]}`,
			path: "rules[2].condition",
			want: `rules[2].condition.any[0].operator: unknown operator "~" (want one of == != > >= < <= in not_in contains starts_with ends_with equals_ignore_case matches between exists)`,
		},
		{
			name: "not JSON",
			raw:  `{"field":`,
			want: "condition: is not valid JSON: unexpected EOF",
		},
		{
			name: "two values",
			raw:  `{"field":"a","operator":"==","value":1} {}`,
			want: "condition: must hold one JSON object",
		},
		{
			name: "not an object",
			raw:  `["a", "==", 1]`,
			want: "condition: must be an object",
		},
		{
			name: "list item not an object",
			raw:  `{"all":[{"field":"a","operator":"==","value":1}, "b"]}`,
			want: "condition.all[1]: must be an object",
		},
		{
			name: "empty object",
			raw:  `{}`,
			want: "condition: must have field and operator, or one of all, any, not",
		},
		{
			name: "key given twice",
			raw:  `{"field":"a","operator":"==","value":1,"value":2}`,
			want: `condition: has the key "value" twice`,
		},
		{
			name: "key given twice in a nested condition",
			raw:  `{"all":[{"field":"a","operator":"exists"},{"field":"b","operator":"==","value":"x","value":"y"}]}`,
			path: "rules[0].condition",
			want: `rules[0].condition.all[1]: has the key "value" twice`,
		},
		{
			name: "key given twice, once escaped",
			raw:  `{"not":{"field":"a","\u006fperator":"exists","operator":"=="}}`,
			want: `condition.not: has the key "operator" twice`,
		},
		{
			name: "key given twice in an object value",
			raw:  `{"field":"a","operator":"==","value":{"b":1,"b":2}}`,
			want: `condition.value: has the key "b" twice`,
		},
		{
			name: "lone surrogate",
			raw:  `{"field":"a","operator":"==","value":"\ud800"}`,
			want: `condition.value: holds a lone surrogate \uD800`,
		},
		{
			name: "trailing bracket",
			raw:  `{"field":"a","operator":"exists"}]`,
			want: "condition: must hold exactly one JSON object",
		},
		{
			name: "unknown key",
			raw:  `{"field":"a","operator":"==","value":1,"values":[1]}`,
			want: "condition.values: unknown key (want field, operator, value, all, any or not)",
		},
		{
			name: "comparison beside all",
			raw:  `{"field":"a","operator":"==","value":1,"all":[{"field":"b","operator":"==","value":1}]}`,
			want: "condition: must be one of a comparison, all, any or not, not several",
		},
		{
			name: "all beside any",
			raw:  `{"all":[{"field":"a","operator":"==","value":1}],"any":[{"field":"b","operator":"==","value":1}]}`,
			want: "condition: must be one of a comparison, all, any or not, not several",
		},
		{
			name: "all not a list",
			raw:  `{"all":{"field":"a","operator":"==","value":1}}`,
			want: "condition.all: must be a list of conditions",
		},
		{
			name: "empty any",
			raw:  `{"any":[]}`,
			want: "condition.any: must not be empty",
		},
		{
			name: "error inside not",
			raw:  `{"not":{"field":"a","operator":"==","value":null}}`,
			want: `condition.not.value: null is not a value to compare with: use the operator "exists" to ask whether a field is present and not null`,
		},
		{
			name: "missing field",
			raw:  `{"operator":"==","value":1}`,
			want: "condition.field: must be a non-empty string",
		},
		{
			name: "field not a string",
			raw:  `{"field":3,"operator":"==","value":1}`,
			want: "condition.field: must be a non-empty string",
		},
		{
			name: "empty path segment",
			raw:  `{"field":"user..segment","operator":"==","value":"VIP"}`,
			want: `condition.field: "user..segment" has an empty segment`,
		},
		{
			name: "trailing dot",
			raw:  `{"field":"user.","operator":"==","value":"VIP"}`,
			want: `condition.field: "user." has an empty segment`,
		},
		{
			name: "missing operator",
			raw:  `{"field":"a","value":1}`,
			want: "condition.operator: must be a string",
		},
		{
			name: "missing value",
			raw:  `{"field":"a","operator":"=="}`,
			want: "condition.value: is required",
		},
		{
			name: "list value",
			raw:  `{"field":"a","operator":"==","value":[1,2]}`,
			want: "condition.value: a list is only the value of in, not_in and between",
		},
		{
			name: "object value",
			raw:  `{"field":"a","operator":"==","value":{"b":1}}`,
			want: "condition.value: must be a number, a string or a boolean",
		},
		{
			name: "ordering a boolean",
			raw:  `{"field":"a","operator":">","value":true}`,
			want: `condition.value: operator ">" needs a number or a string, not a boolean`,
		},
		{
			name: "list of lists",
			raw:  `{"field":"a","operator":"in","value":[[1]]}`,
			want: "condition.value: [0]: a list is only the value of in, not_in and between",
		},
		{
			name: "too large",
			raw:  `{"field":"a","operator":"in","value":["` + strings.Repeat("x", rules.MaxConditionBytes) + `"]}`,
			want: "condition: is larger than 65536 bytes",
		},
		{
			name: "list too long",
			raw:  `{"field":"a","operator":"in","value":[` + strings.Repeat("1,", rules.MaxListValues) + `1]}`,
			want: "condition.value: has more than 1000 values",
		},
		{
			name: "path with too many segments",
			raw:  `{"field":"` + strings.Repeat("a.", rules.MaxPathSegments) + `a","operator":"exists"}`,
			want: `condition.field: "` + strings.Repeat("a.", rules.MaxPathSegments) + `a" has more than 32 segments`,
		},
		{
			name: "path too long",
			raw:  `{"field":"` + strings.Repeat("a", rules.MaxPathBytes+1) + `","operator":"exists"}`,
			want: "condition.field: is longer than 512 bytes",
		},
		{
			name: "regular expression too long",
			raw:  `{"field":"a","operator":"matches","value":"` + strings.Repeat("a", rules.MaxRegexpBytes+1) + `"}`,
			want: "condition.value: regular expression is longer than 1024 bytes",
		},
		{
			name: "too deep",
			raw:  nest(rules.MaxDepth + 1),
			want: "condition" + strings.Repeat(".not", rules.MaxDepth) + ": condition is nested deeper than 16 levels",
		},
		{
			name: "too deep through lists",
			raw:  strings.Repeat(`{"all":[`, rules.MaxDepth) + `{"field":"a","operator":"==","value":1}` + strings.Repeat(`]}`, rules.MaxDepth),
			want: "condition" + strings.Repeat(".all[0]", rules.MaxDepth) + ": condition is nested deeper than 16 levels",
		},
		{
			name: "too many nodes",
			raw:  wide(rules.MaxNodes),
			want: "condition.any[511]: condition has more than 512 nodes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "condition"
			}
			c, err := rules.ParseCondition([]byte(tt.raw), path)
			if err == nil {
				t.Fatalf("ParseCondition succeeded with %+v, want %q", c, tt.want)
			}
			var ve *rules.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T (%v) is not a *ValidationError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
			if got := ve.Path + ": " + ve.Problem; got != err.Error() {
				t.Errorf("Path and Problem %q do not make up the message %q", got, err)
			}
		})
	}
}

// The limits are inclusive: a tree exactly at them is accepted.
func TestParseConditionLimits(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"depth at the limit", nest(rules.MaxDepth)},
		{"nodes at the limit", wide(rules.MaxNodes - 1)},
		{"list at the limit", `{"field":"a","operator":"in","value":[` + strings.Repeat("1,", rules.MaxListValues-1) + `1]}`},
		{"path at the limit", `{"field":"` + strings.Repeat("a.", rules.MaxPathSegments-1) + `a","operator":"exists"}`},
		{"number longer than event data may hold", `{"field":"a","operator":"==","value":1` + strings.Repeat("0", 400) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := rules.ParseCondition([]byte(tt.raw), "condition")
			if err != nil {
				t.Fatalf("ParseCondition: %v", err)
			}
			if _, err := rules.NewSet([]rules.Rule{{Name: "r", Condition: c}}); err != nil {
				t.Errorf("NewSet of a valid condition: %v", err)
			}
		})
	}
}
