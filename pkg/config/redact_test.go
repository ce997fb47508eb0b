package config_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/config"
)

func TestRedactSink(t *testing.T) {
	tests := []struct {
		name, sinkType, settings, want string
	}{
		{
			name:     "webhook url with a token, headers and signing secrets",
			sinkType: "webhook",
			settings: `{"url":"https://hooks.example.com/T0/XyZsecret?x=1","headers":{"Authorization":"Bearer abc"},"timeout":"5s","secrets":["whsec_Zmlyc3Qtc2lnbmluZy1zZWNyZXQtMDEyMzQ1Njc4OQ==","whsec_c2Vjb25kLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3OA=="]}`,
			want:     `{"url":"<redacted>","headers":{"Authorization":"<redacted>"},"timeout":"5s","secrets":["<redacted>","<redacted>"]}`,
		},
		{
			name:     "slack bot token",
			sinkType: "slack",
			settings: `{"token":"xoxb-SKtoken","channel":"#alerts"}`,
			want:     `{"token":"<redacted>","channel":"#alerts"}`,
		},
		{
			name:     "s3 credentials",
			sinkType: "s3",
			settings: `{"bucket":"archive-bucket","access_key_id":"AK","secret_access_key":"SKsecret","session_token":"tok"}`,
			want:     `{"bucket":"archive-bucket","access_key_id":"AK","secret_access_key":"<redacted>","session_token":"<redacted>"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.RedactSink(tt.sinkType, json.RawMessage(tt.settings))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decode(t, tt.want), decode(t, string(got))); diff != "" {
				t.Errorf("RedactSink (-want +got):\n%s", diff)
			}
			for _, secret := range []string{"XyZsecret", "Bearer", "whsec_", "SKsecret", "xoxb", "tok\""} {
				if strings.Contains(string(got), secret) {
					t.Errorf("redacted settings %s still hold %q", got, secret)
				}
			}
		})
	}
}

func TestRedactSinkRefusesUnknownType(t *testing.T) {
	if got, err := config.RedactSink("carrier-pigeon", json.RawMessage(`{"url":"https://x/secret"}`)); err == nil {
		t.Errorf("RedactSink of an unknown type = %s, want an error", got)
	}
}

func TestRestoreSecrets(t *testing.T) {
	stored := json.RawMessage(`{"url":"https://hooks.example.com/T0/tok","headers":{"Authorization":"Bearer abc","X-Team":"growth"},"timeout":"5s"}`)
	tests := []struct {
		name, update, want string
	}{
		{
			name:   "read back and saved unchanged",
			update: `{"headers":{"Authorization":"<redacted>","X-Team":"<redacted>"},"timeout":"5s","url":"<redacted>"}`,
			want:   `{"headers":{"Authorization":"Bearer abc","X-Team":"growth"},"timeout":"5s","url":"https://hooks.example.com/T0/tok"}`,
		},
		{
			name:   "one header and the timeout edited",
			update: `{"headers":{"Authorization":"<redacted>","X-Team":"ops"},"timeout":"9s","url":"<redacted>"}`,
			want:   `{"headers":{"Authorization":"Bearer abc","X-Team":"ops"},"timeout":"9s","url":"https://hooks.example.com/T0/tok"}`,
		},
		{
			name:   "new url",
			update: `{"url":"https://hooks.example.com/T1/new"}`,
			want:   `{"url":"https://hooks.example.com/T1/new"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.RestoreSecrets("webhook", stored, json.RawMessage(tt.update))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decode(t, tt.want), decode(t, string(got))); diff != "" {
				t.Errorf("RestoreSecrets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRestoreSecretsRotation: signing secrets rotate without the old one
// being known: the n-th "<redacted>" of a list stands for the n-th stored
// secret, wherever it stands in the list.
func TestRestoreSecretsRotation(t *testing.T) {
	const old, second, fresh = "whsec_b2xkLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3OA==", "whsec_c2Vjb25kLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3OA==", "whsec_bmV3LXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3ODk="
	tests := []struct {
		name, stored, update, want string
	}{
		{"old first, new after", `["` + old + `"]`, `["<redacted>","` + fresh + `"]`, `["` + old + `","` + fresh + `"]`},
		{"new first, old after", `["` + old + `"]`, `["` + fresh + `","<redacted>"]`, `["` + fresh + `","` + old + `"]`},
		{"both kept", `["` + fresh + `","` + old + `"]`, `["<redacted>","<redacted>"]`, `["` + fresh + `","` + old + `"]`},
		{"the later dropped", `["` + fresh + `","` + old + `"]`, `["<redacted>"]`, `["` + fresh + `"]`},
		{"the last dropped", `["` + fresh + `","` + old + `","` + second + `"]`, `["<redacted>","<redacted>"]`, `["` + fresh + `","` + old + `"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := json.RawMessage(`{"url":"https://example.com/hook","secrets":` + tt.stored + `}`)
			update := json.RawMessage(`{"url":"<redacted>","secrets":` + tt.update + `}`)
			got, err := config.RestoreSecrets("webhook", stored, update)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"url":"https://example.com/hook","secrets":` + tt.want + `}`
			if diff := cmp.Diff(decode(t, want), decode(t, string(got))); diff != "" {
				t.Errorf("RestoreSecrets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRestoreSecretsRefusesRedactedWithoutSecret: a "<redacted>" that stands
// for no stored secret would be stored and sent as is.
func TestRestoreSecretsRefusesRedactedWithoutSecret(t *testing.T) {
	stored := json.RawMessage(`{"url":"https://example.com/hook","headers":{"X-Team":"ops"},"secrets":["whsec_b2xkLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3OA=="]}`)
	tests := []struct{ name, update, want string }{
		{"a new header", `{"url":"<redacted>","headers":{"X-Team":"<redacted>","X-Auth":"<redacted>"}}`,
			`headers.X-Auth: "<redacted>" stands for a stored secret, but this sink has none there`},
		{"more secrets than stored", `{"url":"<redacted>","secrets":["<redacted>","<redacted>"]}`,
			`secrets[1]: "<redacted>" stands for a stored secret, but this sink has no more in this list`},
		{"a setting that is not secret", `{"url":"<redacted>","method":"<redacted>"}`,
			`method: "<redacted>" stands for a stored secret, but this sink has none there`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.RestoreSecrets("webhook", stored, json.RawMessage(tt.update))
			if err == nil || err.Error() != tt.want {
				t.Errorf("RestoreSecrets = %s, %v\nwant error %q", got, err, tt.want)
			}
		})
	}
}

func decode(t *testing.T, doc string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	return v
}
