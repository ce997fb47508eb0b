package config_test

import (
	"errors"
	"os"
	"path/filepath"
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

// secretURL stands for a credential written in a configuration file.
const secretURL = "https://hooks.slack.com/services/T/B/SUPERSECRET"

// TestYAMLErrorsNeverQuoteTheFile: a mistake in a file is named by its line,
// column and problem, on one line. The YAML library's own messages quote the
// lines around it, and those lines hold secrets, so none of the file's values
// may appear, whether Parse, ToJSON (sink settings) or Load (ZENITH_CONFIG)
// reads the file.
func TestYAMLErrorsNeverQuoteTheFile(t *testing.T) {
	sink := "sinks:\n  - name: team\n    type: slack\n"
	tests := []struct{ name, yaml, want string }{
		{
			name: "a secret-bearing key given twice",
			yaml: sink + "    webhook_url: \"" + secretURL + "\"\n    webhook_url: \"" + secretURL + "\"\n",
			want: "line 5, column 5: sinks[0].webhook_url: is given twice (first at line 4, column 5)",
		},
		{
			name: "a key given twice in JSON",
			yaml: `{"sinks": [{"name": "team", "type": "slack", "webhook_url": "` + secretURL + `", "webhook_url": "` + secretURL + `"}]}`,
			want: "line 1, column 113: sinks[0].webhook_url: is given twice (first at line 1, column 46)",
		},
		{
			name: "an unclosed double quote",
			yaml: sink + "    webhook_url: \"" + secretURL + "\n    title: hi\n",
			want: "line 4, column 18: could not find end character of double-quoted text",
		},
		{
			name: "an unclosed single quote",
			yaml: sink + "    webhook_url: '" + secretURL + "\n",
			want: "line 4, column 18: could not find end character of single-quoted text",
		},
		{
			name: "a block scalar header the library would quote",
			yaml: sink + "    webhook_url: >" + secretURL + "\n      more\n",
			want: "line 4, column 18: invalid header option",
		},
		{
			name: "an escape the library would quote",
			yaml: sink + "    webhook_url: \"https://hooks.slack.com/services/T/B/\\SUPERSECRET\"\n",
			want: "line 4, column 57: found unknown escape character",
		},
		{
			name: "a reserved character, kept",
			yaml: sink + "    webhook_url: @SUPERSECRET\n",
			want: "line 4, column 18: '@' is a reserved character",
		},
		{
			name: "a tab, written out",
			yaml: sink + "    webhook_url: \"" + secretURL + "\"\n\ttitle: hi\n",
			want: `line 5, column 1: found character '\t' that cannot start any token`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.yaml))
			wantYAMLError(t, "Parse", err, tt.want)
			_, err = config.ToJSON([]byte(tt.yaml))
			wantYAMLError(t, "ToJSON", err, tt.want)

			path := filepath.Join(t.TempDir(), "zenith.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = config.Load(path)
			wantYAMLError(t, "Load", err, "config "+path+": "+tt.want)
		})
	}
}

// wantYAMLError fails the test unless err is a *config.Error that reads want
// and holds nothing of the secret.
func wantYAMLError(t *testing.T, what string, err error, want string) {
	t.Helper()
	var cfgErr *config.Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("%s error = %v (%T), want a *config.Error", what, err, err)
	}
	if err.Error() != want {
		t.Errorf("%s error = %q\nwant %q", what, err, want)
	}
	if strings.Contains(err.Error(), "SUPERSECRET") || strings.Contains(err.Error(), "hooks.slack.com") {
		t.Errorf("%s error quotes the file: %q", what, err)
	}
}
