package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/config"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{
		"HOOK_URL":    "https://hooks.example.com/T0/tok-123",
		"HOOK_SECRET": "whsec_c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVz",
		"EMPTY":       "",
	}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	tests := []struct {
		name, file, want, wantErr string
	}{
		{
			name: "whole value, list item and default",
			file: "sinks:\n  - {name: a, type: webhook, url: \"${HOOK_URL}\", secrets: [\"${HOOK_SECRET}\"], headers: {X-Env: \"${STAGE:-dev}\"}}\n",
			want: `{"sinks":[{"headers":{"X-Env":"dev"},"name":"a","secrets":["whsec_c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVz"],"type":"webhook","url":"https://hooks.example.com/T0/tok-123"}]}`,
		},
		{
			name: "inside a value, an empty variable takes the default",
			file: "sinks:\n  - {name: a, type: webhook, url: \"http://${EMPTY:-127.0.0.1:9000}/vip?x=${STAGE:-}\"}\n",
			want: `{"sinks":[{"name":"a","type":"webhook","url":"http://127.0.0.1:9000/vip?x="}]}`,
		},
		{
			name: "rules and names are left alone",
			file: "sinks:\n  - {name: \"${X}\", type: webhook, url: \"http://h\"}\nrules:\n  - {name: r, source: s, condition: {field: a, operator: ==, value: \"${HOOK_URL}\"}, actions: [a]}\n",
			want: `{"rules":[{"actions":["a"],"condition":{"field":"a","operator":"==","value":"${HOOK_URL}"},"name":"r","source":"s"}],"sinks":[{"name":"${X}","type":"webhook","url":"http://h"}]}`,
		},
		{name: "unset", file: "sinks:\n  - {name: a, type: webhook, url: \"${NOPE}\"}\n", wantErr: "sinks[0].url: environment variable NOPE is not set"},
		{name: "empty", file: "sinks:\n  - {name: a, type: webhook, url: \"${EMPTY}\"}\n", wantErr: "sinks[0].url: environment variable EMPTY is empty"},
		{name: "unclosed", file: "sinks:\n  - {name: a, type: webhook, headers: {A: \"${HOOK_URL\"}}\n", wantErr: `sinks[0].headers.A: has "${" without a closing }`},
		{name: "not a name", file: "sinks:\n  - {name: a, type: webhook, url: \"${1-2}\"}\n", wantErr: "sinks[0].url: ${1-2} does not name an environment variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ExpandEnv([]byte(tt.file), lookup)
			if tt.wantErr != "" {
				var ce *config.Error
				if !errors.As(err, &ce) || err.Error() != tt.wantErr {
					t.Fatalf("ExpandEnv error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decode(t, tt.want), decode(t, string(got))); diff != "" {
				t.Errorf("ExpandEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRefusesUnexpandedReference(t *testing.T) {
	_, err := config.Parse([]byte("sinks:\n  - {name: a, type: webhook, url: \"${HOOK_URL}\"}\n"))
	want := "sinks[0].url: holds a ${...} reference that was not expanded: apply the file with zenithctl or ZENITH_CONFIG, which read the variables"
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %q", err, want)
	}
}

func TestLoadExpandsFromTheEnvironment(t *testing.T) {
	t.Setenv("ZENITH_TEST_RECEIVER", "127.0.0.1:9123")
	path := t.TempDir() + "/zenith.yaml"
	file := "sinks:\n  - {name: a, type: webhook, url: \"http://${ZENITH_TEST_RECEIVER}/vip\"}\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(f.Sinks[0].Config), `{"url":"http://127.0.0.1:9123/vip"}`; got != want {
		t.Errorf("sink settings = %s, want %s", got, want)
	}
}
