package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// ctlWithEnv runs zenithctl with env as its whole environment.
func ctlWithEnv(env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(name string) string { return env[name] })
	return code, out.String(), errOut.String()
}

// TestHelpNeverShowsSecrets: the admin token and the API key come from the
// environment, and --help must not print them as the flags' defaults.
func TestHelpNeverShowsSecrets(t *testing.T) {
	env := map[string]string{"ZENITH_TOKEN": "help-token-0123456789", "ZENITH_API_KEY": "zk_helpkey_0123456789"}
	for _, args := range [][]string{{"--help"}, {"sources", "list", "--help"}, {"send", "--help"}, {"apply", "--help"}} {
		code, out, errOut := ctlWithEnv(env, args...)
		if code != exitOK || !strings.Contains(out, "--token") {
			t.Errorf("zenithctl %s: exit %d, %s%s", strings.Join(args, " "), code, out, errOut)
		}
		for _, secret := range env {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("zenithctl %s shows %q:\n%s", strings.Join(args, " "), secret, out)
			}
		}
	}
}

func TestAdminURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"https://admin.example.com/", "https://admin.example.com"},
		{"localhost:8081/", "http://localhost:8081"},
	} {
		if got, err := adminURL(tt.in); err != nil || got != tt.want {
			t.Errorf("adminURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"ftp://127.0.0.1:8081", "http://", "http://[::1"} {
		if got, err := adminURL(bad); err == nil {
			t.Errorf("adminURL(%q) = %q, want an error", bad, got)
		}
	}
}

// TestInputRefusedBeforeAnyCall: mistakes in files and flags are found
// here, named by their key the way the configuration file's errors are,
// and exit 2 (the input is wrong). The server named is not listening: no
// call is made.
func TestInputRefusedBeforeAnyCall(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, content)
		return path
	}
	env := map[string]string{"ZENITH_TOKEN": "local-token-0123456789", "ZENITH_SERVER": "127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a key typo", []string{"rules", "create", "-f", file("typo.yaml", "{name: r, source: shop, actoins: [a]}")},
			"typo.yaml: actoins: unknown key"},
		{"not a number", []string{"rules", "create", "-f", file("nan.yaml", "{name: r, source: shop, actions: [a], condition: {field: x, operator: '>', value: .nan}}")},
			"nan.yaml: condition.value: .nan is not a number a rule can compare with"},
		{"out of range", []string{"rules", "update", "-f", file("inf.yaml", "{name: r, source: shop, actions: [a], condition: {field: x, operator: '>', value: 1e400}}")},
			"inf.yaml: condition.value: 1e400 is out of range"},
		{"a large priority", []string{"rules", "create", "-f", file("priority.yaml", "{name: r, source: shop, actions: [a], priority: 3000000000}")},
			"priority.yaml: priority: must be between -2147483648 and 2147483647"},
		{"a sink named twice", []string{"rules", "create", "-f", file("twice.yaml", "{name: r, source: shop, actions: [archive, archive]}")},
			`twice.yaml: actions[1]: sink "archive" is named twice`},
		{"a draft with a typo", []string{"test", "-f", file("event.json", `{"type":"a.b","data":{}}`), "--draft", file("typo.yaml", "{name: r, source: shop, actoins: [a]}")},
			"typo.yaml: actoins: unknown key"},
		{"an event without data", []string{"test", "--source", "shop", "-f", file("nodata.json", `{"type":"purchase.completed"}`)},
			"nodata.json: data: is required"},
		{"an event with a key twice", []string{"test", "--source", "shop", "-f", file("data-twice.json", `{"type":"a.b","data":{"amount":1,"amount":900}}`)},
			`data-twice.json: data: has the key "amount" twice`},
		{"an event with an attribute twice", []string{"test", "-f", file("type-twice.json", `{"type":"a.b","source":"shop","type":"c.d","data":{}}`)},
			"type-twice.json: type: is given twice"},
		{"a draft with a condition key twice", []string{"test", "-f", file("event.json", `{"type":"a.b","data":{}}`), "--draft",
			file("condition-twice.json", `{"name":"r","source":"shop","actions":["a"],"condition":{"field":"x","operator":"==","value":1,"value":2}}`)},
			"condition-twice.json: line 1, column 96: condition.value: is given twice (first at line 1, column 86)"},
		{"a missing file", []string{"apply", "-f", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{"a bad apply file", []string{"apply", "-f", file("bad.yaml", "rules: [{name: r, source: shop, actions: [a, a]}]")},
			`bad.yaml: rules[0].actions[1]: sink "a" is named twice`},
		{"settings not a mapping", []string{"sinks", "create", "x", "--settings", "[1]"}, "--settings: the settings must be a mapping"},
		{"audit since in the future", []string{"audit", "--since", "-1h"}, "--since -1h is in the future"},
		{"dlq since in the future", []string{"dlq", "list", "--since", "2999-01-01T00:00:00Z"}, "is in the future"},
		{"a replay choosing nothing", []string{"dlq", "replay"}, "or --all for every one"},
		{"an event replay choosing nothing", []string{"dlq", "events", "replay", "--include-replayed"}, "or --all for every one"},
		{"an event replay of no sequence", []string{"dlq", "events", "replay", "seven"}, `"seven" is not a dead letter's sequence`},
		{"a server that is not a URL", []string{"sources", "list", "--server", "ftp://127.0.0.1:8081"}, "--server (or ZENITH_SERVER) must be the admin API's address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := ctlWithEnv(env, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, %s%s\nwant exit %d saying %q", code, out, errOut, exitUsage, tt.want)
			}
		})
	}
}

// TestYAMLErrorsShowNoSecret: a file or --settings the YAML reader refuses
// is named by line, column and problem on one line of stderr, with nothing
// of the lines themselves, where webhook URLs keep their tokens.
func TestYAMLErrorsShowNoSecret(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, content)
		return path
	}
	const secret = "SUPERSECRET"
	url := `"https://hooks.slack.com/services/T/B/` + secret + `"`
	sink := "sinks:\n  - name: team\n    type: slack\n    webhook_url: " + url + "\n"
	twice := file("twice.yaml", sink+"    webhook_url: "+url+"\n")
	unclosed := file("unclosed.yaml", strings.TrimSuffix(sink, "\"\n")+"\n    title: hi\n")
	env := map[string]string{"ZENITH_TOKEN": "local-token-0123456789", "ZENITH_SERVER": "127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"apply, a key given twice", []string{"apply", "-f", twice},
			twice + ": line 5, column 5: sinks[0].webhook_url: is given twice (first at line 4, column 5)"},
		{"apply, an unclosed quote", []string{"apply", "-f", unclosed},
			unclosed + ": line 4, column 18: could not find end character of double-quoted text"},
		{"settings, a key given twice", []string{"sinks", "create", "team", "--type", "slack", "--settings", `{"webhook_url": ` + url + `, "webhook_url": ` + url + `}`},
			`--settings: line 1, column 69: webhook_url: is given twice (first at line 1, column 2)`},
		{"settings file, an unclosed quote", []string{"sinks", "update", "team", "-f", file("settings.yaml", "webhook_url: "+strings.TrimSuffix(url, `"`)+"\n")},
			filepath.Join(dir, "settings.yaml") + ": line 1, column 14: could not find end character of double-quoted text"},
		{"rule file, a key given twice", []string{"rules", "create", "-f", file("rule.yaml", "name: r\nsource: shop\nactions: [team]\nname: "+secret+"\n")},
			filepath.Join(dir, "rule.yaml") + ": line 4, column 1: name: is given twice (first at line 1, column 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := ctlWithEnv(env, tt.args...)
			if want := "zenithctl: " + tt.want + "\n"; code != exitUsage || errOut != want {
				t.Errorf("exit %d, %s%q\nwant exit %d, %q", code, out, errOut, exitUsage, want)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("zenithctl shows the secret:\n%s%s", out, errOut)
			}
		})
	}
}

// TestPrintableEscapesControlCharacters checks that text a NATS publisher
// chose, such as a made-up event id, cannot reach the terminal as escape
// sequences.
func TestPrintableEscapesControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"order-1":                    "order-1",
		"esc\x1b[31mRED":             `esc\x1b[31mRED`,
		"title\x1b]0;TITLE\x07 done": `title\x1b]0;TITLE\x07 done`,
		"two\nlines\ttab":            `two\x0alines\x09tab`,
		"café \u0085":                `café \x85`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEmptyTimeRangeRefused checks that --since after --until is refused
// before any call, rather than answered with nothing.
func TestEmptyTimeRangeRefused(t *testing.T) {
	if _, _, err := parseRange("1h", "2h"); err == nil || !strings.Contains(err.Error(), "--since 1h is not before --until 2h") {
		t.Errorf("since 1h ago, until 2h ago: %v, want a refusal", err)
	}
	from, to, err := parseRange("2h", "1h")
	if err != nil || from == nil || to == nil || !from.AsTime().Before(to.AsTime()) {
		t.Errorf("since 2h ago, until 1h ago = %v, %v, %v", from, to, err)
	}
}
