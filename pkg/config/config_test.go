package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/config"
)

const example = `
sources:
  - name: shop
    api_keys_from_env: [SHOP_API_KEY]
sinks:
  - {name: vip-alerts, type: webhook, url: "http://127.0.0.1:9000/vip"}
  - {name: archive, type: webhook, url: "http://127.0.0.1:9000/archive"}
rules:
  - name: vip-purchase
    source: shop
    event_type: purchase.completed
    condition:
      all:
        - {field: amount, operator: ">", value: 500}
        - {field: user.segment, operator: "==", value: VIP}
    actions: [vip-alerts]
  - {name: archive-rest, source: shop, fallback: true, actions: [archive]}
`

func TestParseExample(t *testing.T) {
	f, err := config.Parse([]byte(example))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	wantSources := []config.Source{{Name: "shop", APIKeysFromEnv: []string{"SHOP_API_KEY"}}}
	if diff := cmp.Diff(wantSources, f.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}

	if len(f.Sinks) != 2 {
		t.Fatalf("got %d sinks, want 2", len(f.Sinks))
	}
	for i, want := range []struct{ name, url string }{
		{"vip-alerts", "http://127.0.0.1:9000/vip"},
		{"archive", "http://127.0.0.1:9000/archive"},
	} {
		k := f.Sinks[i]
		if k.Name != want.name || k.Type != "webhook" {
			t.Errorf("sinks[%d] = %s/%s, want %s/webhook", i, k.Name, k.Type, want.name)
		}
		var settings map[string]any
		if err := json.Unmarshal(k.Config, &settings); err != nil {
			t.Fatalf("sinks[%d] settings %s: %v", i, k.Config, err)
		}
		if diff := cmp.Diff(map[string]any{"url": want.url}, settings); diff != "" {
			t.Errorf("sinks[%d] settings (-want +got):\n%s", i, diff)
		}
	}

	if len(f.Rules) != 2 {
		t.Fatalf("got %d rules, want 2", len(f.Rules))
	}
	vip, rest := f.Rules[0], f.Rules[1]
	if vip.Name != "vip-purchase" || vip.Source != "shop" || vip.EventType != "purchase.completed" ||
		vip.Fallback || !vip.IsEnabled() || !cmp.Equal(vip.Actions, []string{"vip-alerts"}) {
		t.Errorf("rules[0] = %+v", vip)
	}
	var cond any
	if err := json.Unmarshal(vip.Condition, &cond); err != nil {
		t.Fatal(err)
	}
	wantCond := map[string]any{"all": []any{
		map[string]any{"field": "amount", "operator": ">", "value": 500.0},
		map[string]any{"field": "user.segment", "operator": "==", "value": "VIP"},
	}}
	if diff := cmp.Diff(wantCond, cond); diff != "" {
		t.Errorf("rules[0].condition (-want +got):\n%s", diff)
	}
	if rest.Name != "archive-rest" || !rest.Fallback || rest.EventType != "" || len(rest.Condition) != 0 ||
		!rest.IsEnabled() || !cmp.Equal(rest.Actions, []string{"archive"}) {
		t.Errorf("rules[1] = %+v", rest)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n# nothing yet\n", "sources:\nsinks:\nrules:\n"} {
		f, err := config.Parse([]byte(src))
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		if len(f.Sources)+len(f.Sinks)+len(f.Rules) != 0 {
			t.Errorf("Parse(%q) = %+v, want an empty file", src, f)
		}
	}
}

func TestParseRuleDisabled(t *testing.T) {
	f, err := config.Parse([]byte(`
rules:
  - {name: paused, source: shop, enabled: false, actions: [archive]}
  - {name: on, source: shop, enabled: true, actions: [archive]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Rules[0].IsEnabled() || !f.Rules[1].IsEnabled() {
		t.Errorf("enabled = %v, %v; want false, true", f.Rules[0].IsEnabled(), f.Rules[1].IsEnabled())
	}
}

func TestParseRuleTypePrefix(t *testing.T) {
	f, err := config.Parse([]byte(`
rules:
  - {name: orders, source: shop, event_type: 'order.*', actions: [archive]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Rules[0].EventType; got != "order.*" {
		t.Errorf("event_type = %q, want order.*", got)
	}
}

func TestParseErrors(t *testing.T) {
	// rule returns a file with one sink and the rule written in YAML flow
	// style.
	rule := func(fields string) string {
		return "sinks:\n  - {name: archive, type: webhook, url: \"http://127.0.0.1:9000/a\"}\nrules:\n  - {" + fields + "}\n"
	}
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{
			name: "unknown operator",
			yaml: strings.Replace(example, `operator: "=="`, `operator: "=>"`, 1),
			want: `rules[0].condition.all[1].operator: unknown operator "=>" (want one of == != > >= < <= in not_in contains starts_with ends_with equals_ignore_case matches between exists)`,
		},
		{
			name: "CR LF in a webhook header",
			yaml: "sinks:\n  - name: vip-alerts\n    type: webhook\n    url: \"http://127.0.0.1:9000/vip\"\n    headers:\n      X-Token: \"abc\\r\\nX-Admin: yes\"\n",
			want: "sinks[0].headers.X-Token: must not contain control characters such as CR, LF, NUL or DEL",
		},
		{
			name: "bad header name",
			yaml: "sinks:\n  - {name: a, type: webhook, url: \"http://h/\", headers: {\"X Token\": b}}\n",
			want: `sinks[0].headers."X Token": is not a valid header name`,
		},
		{
			name: "duplicate sink",
			yaml: "sinks:\n  - {name: archive, type: webhook, url: \"http://h/1\"}\n  - {name: archive, type: webhook, url: \"http://h/2\"}\n",
			want: `sinks[1].name: sink "archive" is declared twice`,
		},
		{
			name: "duplicate source",
			yaml: "sources:\n  - {name: shop}\n  - {name: ci}\n  - {name: shop}\n",
			want: `sources[2].name: source "shop" is declared twice`,
		},
		{
			name: "duplicate rule of a source",
			yaml: strings.Replace(example, "name: archive-rest", "name: vip-purchase", 1),
			want: `rules[1].name: rule "vip-purchase" of source "shop" is declared twice`,
		},
		{
			name: "duplicate YAML key",
			yaml: "sources:\n  - {name: shop, name: ci}\n",
			want: `line 2, column 18: sources[0].name: is given twice (first at line 2, column 6)`,
		},
		{
			name: "unknown top-level key",
			yaml: "source:\n  - {name: shop}\n",
			want: "source: unknown key (want sources, sinks or rules)",
		},
		{
			name: "unknown rule key",
			yaml: rule("name: r, source: shop, conditions: {field: a, operator: '==', value: 1}, actions: [archive]"),
			want: "rules[0].conditions: unknown key",
		},
		{
			name: "unknown sink setting",
			yaml: "sinks:\n  - {name: a, type: webhook, url: \"http://h/\", retries: 3}\n",
			want: "sinks[0].retries: is not a setting of this sink type",
		},
		{
			name: "unknown sink type",
			yaml: "sinks:\n  - {name: a, type: kafka, topic: t}\n",
			want: `sinks[0].type: unknown sink type "kafka" (want one of webhook, slack, discord, s3)`,
		},
		{
			name: "sink without type",
			yaml: "sinks:\n  - {name: a, url: \"http://h/\"}\n",
			want: "sinks[0].type: is required (one of webhook, slack, discord, s3)",
		},
		{
			name: "sink name not a string",
			yaml: "sinks:\n  - {name: [a], type: webhook, url: \"http://h/\"}\n",
			want: "sinks[0].name: must be a string",
		},
		{
			name: "webhook URL not http",
			yaml: "sinks:\n  - {name: a, type: webhook, url: \"ftp://h/\"}\n",
			want: "sinks[0].url: must be an absolute http or https URL",
		},
		{
			name: "webhook timeout",
			yaml: "sinks:\n  - {name: a, type: webhook, url: \"http://h/\", timeout: 1h}\n",
			want: `sinks[0].timeout: must be a duration between 1ms and 5m, such as "5s"`,
		},
		{
			name: "bad sink name",
			yaml: "sinks:\n  - {name: Archive, type: webhook, url: \"http://h/\"}\n",
			want: "sinks[0].name: must be 1-100 lower-case letters, digits, '.', '-' or '_'",
		},
		{
			name: "bad source name",
			yaml: "sources:\n  - {name: shop.eu}\n",
			want: "sources[0].name: must be 1-63 lower-case letters, digits, '-' or '_'",
		},
		{
			name: "bad env var name",
			yaml: "sources:\n  - {name: shop, api_keys_from_env: [OK_KEY, 1BAD]}\n",
			want: `sources[0].api_keys_from_env[1]: "1BAD" is not an environment variable name`,
		},
		{
			name: "rule without actions",
			yaml: rule("name: r, source: shop"),
			want: "rules[0].actions: must name at least one sink",
		},
		{
			name: "rule with bad event type",
			yaml: rule("name: r, source: shop, event_type: 'purchase..completed', actions: [archive]"),
			want: `rules[0].event_type: "purchase..completed" must be an event type (dot-separated words of letters, digits, '-' or '_') or a prefix such as "order.*"`,
		},
		{
			name: "rule with bad event type prefix",
			yaml: rule("name: r, source: shop, event_type: 'purchase*', actions: [archive]"),
			want: `rules[0].event_type: "purchase*" must be an event type (dot-separated words of letters, digits, '-' or '_') or a prefix such as "order.*"`,
		},
		{
			name: "rule with bare wildcard",
			yaml: rule("name: r, source: shop, event_type: '*', actions: [archive]"),
			want: `rules[0].event_type: "*" must be an event type (dot-separated words of letters, digits, '-' or '_') or a prefix such as "order.*"`,
		},
		{
			name: "rule without source",
			yaml: rule("name: r, actions: [archive]"),
			want: "rules[0].source: must name a source",
		},
		{
			name: "priority not a number",
			yaml: rule("name: r, source: shop, priority: high, actions: [archive]"),
			want: "rules[0].priority: must be a whole number",
		},
		{
			name: "priority out of range",
			yaml: rule("name: r, source: shop, priority: 99999999999999999999, actions: [archive]"),
			want: "rules[0].priority: 99999999999999999999 is out of range",
		},
		{
			name: "fallback not a boolean",
			yaml: rule("name: r, source: shop, fallback: maybe, actions: [archive]"),
			want: "rules[0].fallback: must be a boolean (true or false)",
		},
		{
			name: "actions not a list",
			yaml: rule("name: r, source: shop, actions: archive"),
			want: "rules[0].actions: must be a list",
		},
		{
			name: "sources not a list",
			yaml: "sources: {name: shop}\n",
			want: "sources: must be a list",
		},
		{
			name: "file not a mapping",
			yaml: "- shop\n",
			want: "file: must be a mapping of sources, sinks and rules",
		},
		{
			name: "sink named twice in a rule",
			yaml: rule("name: r, source: shop, actions: [archive, archive]"),
			want: `rules[0].actions[1]: sink "archive" is named twice`,
		},
		{
			name: "priority beyond 32 bits",
			yaml: rule("name: r, source: shop, priority: 3000000000, actions: [archive]"),
			want: "rules[0].priority: must be between -2147483648 and 2147483647",
		},
		{
			name: "value beyond a float",
			yaml: rule("name: r, source: shop, condition: {field: a, operator: '>', value: 1e400}, actions: [archive]"),
			want: "rules[0].condition.value: 1e400 is out of range: a number must be within ±1.8e308 (a 64-bit float)",
		},
		{
			name: "not a number",
			yaml: rule("name: r, source: shop, condition: {field: a, operator: '>', value: .nan}, actions: [archive]"),
			want: "rules[0].condition.value: .nan is not a number a rule can compare with",
		},
		{
			name: "infinity",
			yaml: rule("name: r, source: shop, condition: {field: a, operator: '<', value: -.inf}, actions: [archive]"),
			want: "rules[0].condition.value: -.inf is not a number a rule can compare with",
		},
		{
			name: "unknown key with a control character",
			yaml: "\"rules\\r\": []\n",
			want: `"rules\r": unknown key (want sources, sinks or rules)`,
		},
		{
			name: "unknown policy setting",
			yaml: "sinks:\n  - {name: a, type: webhook, url: \"http://h/\", policy: {max_retries: 3}}\n",
			want: "sinks[0].policy.max_retries: is not a setting of this sink type",
		},
		{
			name: "redacted secret",
			yaml: "sinks:\n  - {name: a, type: webhook, url: \"http://h/\", headers: {X-Auth: \"<redacted>\"}}\n",
			want: `sinks[0].headers.X-Auth: "<redacted>" stands for a secret that was not shown: write the secret itself (or ${VARIABLE})`,
		},
		{
			name: "merge key",
			yaml: "sinks:\n  - {<<: {name: a}, type: webhook, url: \"http://h/\"}\n",
			want: "sinks[0].<<: merge keys are not supported: write the settings out",
		},
		{
			name: "two documents",
			yaml: "sources: []\n---\nsinks: []\n",
			want: "file: holds more than one YAML document (---): put everything in one",
		},
		{
			name: "too large",
			yaml: "sources: []\n#" + strings.Repeat("x", config.MaxFileBytes),
			want: "file: is 1048589 bytes, more than the 1048576 a file may hold",
		},
		{
			name: "nested too deeply",
			yaml: rule("name: r, source: shop, condition: " + strings.Repeat("{not: ", 120) + "{field: a, operator: exists}" + strings.Repeat("}", 120)),
			want: "file: nests deeper than 100 levels at line 4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want %q", f, tt.want)
			}
			var cfgErr *config.Error
			if !errors.As(err, &cfgErr) {
				t.Errorf("error %T is not a *config.Error", err)
			}
			if err.Error() != tt.want && !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "zenith.yaml")
	if err := os.WriteFile(good, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(good)
	if err != nil || len(f.Rules) != 2 {
		t.Fatalf("Load = %+v, %v; want the example's two rules", f, err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("sources:\n  - {name: Shop}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(bad)
	want := "config " + bad + ": sources[0].name: must be 1-63 lower-case letters, digits, '-' or '_'"
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %q", err, want)
	}

	if _, err := config.Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want ErrNotExist", err)
	}
}

// A rule file with nothing in it says so, rather than naming the first
// field a rule lacks.
func TestParseRuleOfAnEmptyFile(t *testing.T) {
	for _, content := range []string{"", "  \n", "# only a comment\n", "null\n"} {
		_, err := config.ParseRule([]byte(content))
		want := "file: is empty; a rule file holds one rule: its name, source, condition and actions"
		if err == nil || err.Error() != want {
			t.Errorf("ParseRule(%q) = %v, want %q", content, err, want)
		}
	}
}

// A string holding U+0000, which the database cannot store, is refused by
// its place; the text \u0000 written with an escaped backslash is not it.
func TestNULRefused(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"rule value", `{"name":"r","source":"shop","condition":{"field":"a","operator":"==","value":"x\u0000"},"actions":["s"]}`,
			"condition.value: must not contain the character U+0000"},
		{"rule list", `{"name":"r","source":"shop","condition":{"field":"a","operator":"in","value":["ok","\u0000"]},"actions":["s"]}`,
			"condition.value[1]: must not contain the character U+0000"},
		{"escaped backslash", `{"name":"r","source":"shop","condition":{"field":"a","operator":"==","value":"x\\u0000"},"actions":["s"]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.ParseRule([]byte(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseRule = %v, want no error", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParseRule = %v, want %q", err, tt.want)
			}
		})
	}

	_, err := config.Parse([]byte("sinks:\n  - {name: hook, type: webhook, url: \"https://hooks.example.com/a\", headers: {X-Team: \"a\\0b\"}}\n"))
	if err == nil || err.Error() != "sinks[0].headers.X-Team: must not contain the character U+0000" {
		t.Errorf("sink with U+0000 in a header: %v, want sinks[0].headers.X-Team: must not contain the character U+0000", err)
	}
	_, err = config.Parse([]byte("sinks:\n  - {name: chat, type: slack, webhook_url: \"https://hooks.slack.com/services/T/B/x\", text: \"a\\0b\"}\n"))
	if err == nil || err.Error() != "sinks[0].text: must not contain the character U+0000" {
		t.Errorf("sink with U+0000 in a template: %v, want sinks[0].text: must not contain the character U+0000", err)
	}
}
