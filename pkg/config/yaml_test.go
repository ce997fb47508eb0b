package config_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/zenith-hq/zenith/pkg/config"
)

func TestToJSON(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"value: 1e3", `{"value":1e3}`},
		{"value: 742.5", `{"value":742.5}`},
		{"value: 9007199254740993", `{"value":9007199254740993}`},
		{"value: 123456789012345678901234567890", `{"value":123456789012345678901234567890}`},
		{"value: 0x10", `{"value":16}`},
		{"value: .5", `{"value":0.5}`},
		{"value: '1e3'", `{"value":"1e3"}`},
		{"value: !!str 500", `{"value":"500"}`},
		{"value: 2024-01-01", `{"value":"2024-01-01"}`},
		{"value: ~", `{"value":null}`},
		{"a: &base {url: x}\nb: *base", `{"a":{"url":"x"},"b":{"url":"x"}}`},
		{"body: |\n  {{.Event.ID}}\n  ]]]\n", `{"body":"{{.Event.ID}}\n]]]\n"}`},
		{"", "null"},
	}
	for _, tt := range tests {
		got, err := config.ToJSON([]byte(tt.yaml))
		if err != nil || string(got) != tt.want {
			t.Errorf("ToJSON(%q) = %s, %v; want %s", tt.yaml, got, err, tt.want)
		}
	}
}

// TestDeepNestingRefusedInLinearWork: the YAML parser takes memory
// quadratic in the depth (a condition nested 20,000 levels made it grow to
// 1.7 GB), so a file nested too deeply is refused before it parses, in work
// linear in the file's size. The shapes are flow mappings, flow lists and
// block lists; each is refused at 10,000 and at 100,000 levels, and ten
// times the levels may cost about ten times the allocations, not a hundred.
func TestDeepNestingRefusedInLinearWork(t *testing.T) {
	shapes := map[string]func(levels int) string{
		"flow mappings": func(n int) string {
			return "rules: [{condition: " + strings.Repeat("{not: ", n) + "x" + strings.Repeat("}", n) + "}]"
		},
		"flow lists":  func(n int) string { return "a: " + strings.Repeat("[", n) + strings.Repeat("]", n) },
		"block lists": func(n int) string { return strings.Repeat("- ", n) + "x" },
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			small, large := shape(10_000), shape(100_000)
			smallBytes, largeBytes := refusalAllocs(t, small), refusalAllocs(t, large)
			t.Logf("%d bytes refused with %d bytes allocated; %d bytes with %d", len(small), smallBytes, len(large), largeBytes)
			if ratio := float64(largeBytes) / float64(smallBytes); ratio > 20 {
				t.Errorf("10× the levels allocated %.0f× the bytes, want about 10×", ratio)
			}
			if perByte := largeBytes / uint64(len(large)); perByte > 500 {
				t.Errorf("refusing %d bytes allocated %d bytes per byte of the file", len(large), perByte)
			}
		})
	}
}

// refusalAllocs parses src, which must be refused as nested too deeply, and
// returns the bytes allocated meanwhile.
func refusalAllocs(t *testing.T, src string) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := config.Parse([]byte(src))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "nests deeper than 100 levels") {
		t.Fatalf("Parse of %d bytes = %v, want it refused as nested too deeply", len(src), err)
	}
	return after.TotalAlloc - before.TotalAlloc
}

// TestNestingAllowsDeepBlockConditions: a condition at the rule language's
// own depth limit, written as YAML blocks, is within the file's limit.
func TestNestingAllowsDeepBlockConditions(t *testing.T) {
	var b strings.Builder
	b.WriteString("sinks:\n  - name: archive\n    type: webhook\n    url: \"http://127.0.0.1:9000/a\"\n")
	b.WriteString("rules:\n  - name: deep\n    source: shop\n    actions: [archive]\n    condition:\n")
	indent := "      "
	b.WriteString(indent + "all:\n")
	for range 14 {
		b.WriteString(indent + "  - all:\n")
		indent += "    "
	}
	b.WriteString(indent + "  - field: a\n" + indent + "    operator: exists\n")
	if _, err := config.Parse([]byte(b.String())); err != nil {
		t.Errorf("Parse of a condition 16 levels deep: %v\n%s", err, b.String())
	}
}
