package config_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/zenith-hq/zenith/pkg/config"
)

// A YAML alias bomb is refused once its expansion passes the bound, long
// before it would exhaust memory.
func TestParseRefusesAliasBombs(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		b.WriteString(strings.TrimSuffix(strings.Repeat("*a"+string(rune('0'+i-1))+", ", 10), ", "))
		b.WriteString("]\n")
	}
	_, err := config.Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "expands, through aliases, to more than") {
		t.Errorf("Parse of a billion laughs = %v, want its expansion refused", err)
	}
}

// FuzzParse reads random configuration files: each is refused with an
// error of one line, which logs and zenithctl print as it is, or parses
// into a file that validates; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(`sinks: [{name: vip-slack, type: slack, webhook_url: "https://hooks.slack.com/services/T/B/X", title: "VIP {{.Data.amount}}"}]`))
	f.Add([]byte("sources: [{name: a, name: b}]"))
	f.Add([]byte("a: &x [1]\nb: *x"))
	f.Add([]byte("rules:\n  - name: r\n    source: s\n    condition: {not: {not: {any: []}}}\n    actions: [k]"))
	f.Add([]byte("- just\n- a list"))
	f.Add([]byte("sinks:\n  - name: a\n    url: \"x\"\n\tbad: y\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := config.Parse(b)
		if err != nil {
			if strings.ContainsFunc(err.Error(), unicode.IsControl) {
				t.Fatalf("Parse error holds a control character: %q", err)
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("Parse accepted a file that does not validate: %v", err)
		}
	})
}
