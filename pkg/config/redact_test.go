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
		name, settings, want string
	}{
		{
			name:     "webhook url with a token and headers",
			settings: `{"url":"https://hooks.slack.com/services/T0/B0/XyZsecret?x=1","headers":{"Authorization":"Bearer abc"},"timeout":"5s"}`,
			want:     `{"headers":{"Authorization":"[redacted]"},"timeout":"5s","url":"https://hooks.slack.com/[redacted]"}`,
		},
		{
			name:     "bare host stays",
			settings: `{"url":"http://127.0.0.1:9000"}`,
			want:     `{"url":"http://127.0.0.1:9000"}`,
		},
		{
			name:     "user in the url",
			settings: `{"url":"https://user:pw@example.com"}`,
			want:     `{"url":"https://example.com/[redacted]"}`,
		},
		{
			name:     "hmac secrets and nested credentials",
			settings: `{"secrets":["whsec_a","whsec_b"],"s3":{"bucket":"b","credentials":{"access_key_id":"AK","secret_access_key":"SK"},"token":"t"}}`,
			want:     `{"s3":{"bucket":"b","credentials":"[redacted]","token":"[redacted]"},"secrets":"[redacted]"}`,
		},
		{
			name:     "not a URL",
			settings: `{"url":"::::"}`,
			want:     `{"url":"[redacted]"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.RedactSink(json.RawMessage(tt.settings))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("RedactSink =\n%s\nwant\n%s", got, tt.want)
			}
			for _, secret := range []string{"XyZsecret", "Bearer", "whsec_", "SK", "pw@"} {
				if strings.Contains(string(got), secret) {
					t.Errorf("redacted settings %s still hold %q", got, secret)
				}
			}
		})
	}
}

func TestRestoreSecrets(t *testing.T) {
	stored := json.RawMessage(`{"url":"https://hooks.slack.com/services/T0/B0/tok","headers":{"Authorization":"Bearer abc","X-Team":"growth"},"timeout":"5s"}`)
	tests := []struct {
		name, update, want string
	}{
		{
			name:   "read back and saved unchanged",
			update: `{"headers":{"Authorization":"[redacted]","X-Team":"[redacted]"},"timeout":"5s","url":"https://hooks.slack.com/[redacted]"}`,
			want:   `{"headers":{"Authorization":"Bearer abc","X-Team":"growth"},"timeout":"5s","url":"https://hooks.slack.com/services/T0/B0/tok"}`,
		},
		{
			name:   "one header and the timeout edited",
			update: `{"headers":{"Authorization":"[redacted]","X-Team":"ops"},"timeout":"9s","url":"https://hooks.slack.com/[redacted]"}`,
			want:   `{"headers":{"Authorization":"Bearer abc","X-Team":"ops"},"timeout":"9s","url":"https://hooks.slack.com/services/T0/B0/tok"}`,
		},
		{
			name:   "new url",
			update: `{"url":"https://hooks.slack.com/services/T1/B1/new"}`,
			want:   `{"url":"https://hooks.slack.com/services/T1/B1/new"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.RestoreSecrets(stored, json.RawMessage(tt.update))
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tt.want), &w)
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("RestoreSecrets (-want +got):\n%s", diff)
			}
		})
	}
}
