package sinkconf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

// A signing secret: "whsec_" and the base64 of 32 bytes.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestValidateAccepts(t *testing.T) {
	cases := []struct {
		name, sinkType, config string
	}{
		{"webhook minimal", "webhook", `{"url":"https://example.com/hook"}`},
		{"webhook full", "webhook", `{"url":"http://example.com/h?t=1","method":"PUT","headers":{"X-Team":"ops","Authorization":"Bearer abc"},
			"timeout":"3s","secrets":["` + testSecret + `"],"body":"{{json .Data}}","content_type":"application/json; charset=utf-8",
			"policy":{"max_attempts":5,"max_age":"1h","retry_statuses":[429,503],"rate_limit":2.5,"burst":5,"concurrency":4,
			"breaker_failures":3,"breaker_cooldown":"10s"}}`},
		{"slack webhook", "slack", `{"webhook_url":"https://hooks.slack.com/services/T/B/x","title":"{{.Event.Type}}",
			"fields":[{"name":"Amount","value":"{{.Data.amount}}","inline":true}],"priority":"{{if gt (num .Data.amount) 500.0}}high{{end}}"}`},
		{"slack bot", "slack", `{"token":"xoxb-1","channel":"C123","api_url":"http://127.0.0.1:9/api","color":"#E01E5A"}`},
		{"discord", "discord", `{"webhook_url":"https://discord.com/api/webhooks/1/x","content":"{{.Event.ID}}","allow_mentions":["users"]}`},
		{"s3 static keys", "s3", `{"bucket":"archive","prefix":"zenith/","endpoint":"http://127.0.0.1:9000","path_style":true,
			"access_key_id":"AK","secret_access_key":"SK","max_events":100,"max_bytes":1048576,"flush_after":"30s"}`},
		{"s3 default chain", "s3", `{"bucket":"archive.logs"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := sinkconf.Validate(c.sinkType, json.RawMessage(c.config)); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	cases := []struct {
		name, sinkType, config, field string
	}{
		{"no type", "", `{}`, "type"},
		{"unknown type", "pager", `{}`, "type"},
		{"webhook no url", "webhook", `{}`, "url"},
		{"webhook ftp", "webhook", `{"url":"ftp://example.com"}`, "url"},
		{"webhook GET", "webhook", `{"url":"http://x","method":"GET"}`, "method"},
		{"header CR LF", "webhook", `{"url":"http://x","headers":{"X-A":"a\r\nX-Evil: 1"}}`, "headers.X-A"},
		{"header NUL", "webhook", `{"url":"http://x","headers":{"X-A":"a\u0000"}}`, "headers.X-A"},
		{"header DEL", "webhook", `{"url":"http://x","headers":{"X-A":"a\u007f"}}`, "headers.X-A"},
		{"header SOH", "webhook", `{"url":"http://x","headers":{"X-A":"\u0001a"}}`, "headers.X-A"},
		{"header bad name", "webhook", `{"url":"http://x","headers":{"X A":"a"}}`, `headers."X A"`},
		{"header name CR LF", "webhook", `{"url":"http://x","headers":{"X-A\r\nX-Evil":"a"}}`, `headers."X-A\r\nX-Evil"`},
		{"header reserved", "webhook", `{"url":"http://x","headers":{"webhook-id":"forged"}}`, "headers.webhook-id"},
		{"header host", "webhook", `{"url":"http://x","headers":{"Host":"internal"}}`, "headers.Host"},
		{"timeout", "webhook", `{"url":"http://x","timeout":"forever"}`, "timeout"},
		{"secret prefix", "webhook", `{"url":"http://x","secrets":["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}`, "secrets[0]"},
		{"secret short", "webhook", `{"url":"http://x","secrets":["whsec_c2hvcnQ="]}`, "secrets[0]"},
		{"body template", "webhook", `{"url":"http://x","body":"{{.Event.ID"}`, "body"},
		{"unknown function", "webhook", `{"url":"http://x","body":"{{exec .Data}}"}`, "body"},
		{"content type", "webhook", `{"url":"http://x","content_type":"not a type"}`, "content_type"},
		{"unknown setting", "webhook", `{"url":"http://x","retries":3}`, "retries"},
		{"wrong kind", "webhook", `{"url":"http://x","headers":["a"]}`, "headers"},
		{"unknown policy setting", "webhook", `{"url":"http://x","policy":{"max_retries":3}}`, "policy.max_retries"},
		{"unknown field setting", "slack", `{"webhook_url":"https://x","fields":[{"name":"a","value":"b"},{"name":"c","label":"d"}]}`, "fields[1].label"},
		{"unknown setting with control characters", "webhook", `{"url":"http://x","a\nb":1}`, `"a\nb"`},
		{"policy attempts", "webhook", `{"url":"http://x","policy":{"max_attempts":-1}}`, "policy.max_attempts"},
		{"policy age", "webhook", `{"url":"http://x","policy":{"max_age":"1y"}}`, "policy.max_age"},
		{"policy status", "webhook", `{"url":"http://x","policy":{"retry_statuses":[302]}}`, "policy.retry_statuses[0]"},
		{"policy burst alone", "webhook", `{"url":"http://x","policy":{"burst":3}}`, "policy.burst"},
		{"policy cooldown", "webhook", `{"url":"http://x","policy":{"breaker_cooldown":"0s"}}`, "policy.breaker_cooldown"},
		{"slack none", "slack", `{}`, "webhook_url"},
		{"slack both", "slack", `{"webhook_url":"https://x","token":"xoxb"}`, "token"},
		{"slack token no channel", "slack", `{"token":"xoxb"}`, "channel"},
		{"slack token control character", "slack", `{"token":"xoxb-\u007f","channel":"C1"}`, "token"},
		{"slack webhook channel", "slack", `{"webhook_url":"https://x","channel":"C1"}`, "channel"},
		{"slack text", "slack", `{"webhook_url":"https://x","text":"{{if}}"}`, "text"},
		{"slack field value", "slack", `{"webhook_url":"https://x","fields":[{"name":"a","value":"{{.Data.a"}]}`, "fields[0].value"},
		{"slack field name", "slack", `{"webhook_url":"https://x","fields":[{"value":"a"}]}`, "fields[0].name"},
		{"slack color", "slack", `{"webhook_url":"https://x","color":"red"}`, "color"},
		{"discord url", "discord", `{"webhook_url":"discord"}`, "webhook_url"},
		{"discord mentions", "discord", `{"webhook_url":"https://x","allow_mentions":["here"]}`, "allow_mentions[0]"},
		{"discord content", "discord", `{"webhook_url":"https://x","content":"{{end}}"}`, "content"},
		{"s3 bucket", "s3", `{"bucket":"Bad_Bucket!"}`, "bucket"},
		{"s3 key id control character", "s3", `{"bucket":"bkt","access_key_id":"AK\u0001","secret_access_key":"x"}`, "access_key_id"},
		{"s3 half keys", "s3", `{"bucket":"bkt","access_key_id":"AK"}`, "secret_access_key"},
		{"s3 prefix", "s3", `{"bucket":"bkt","prefix":"/abs"}`, "prefix"},
		{"s3 endpoint", "s3", `{"bucket":"bkt","endpoint":"minio:9000"}`, "endpoint"},
		{"s3 flush", "s3", `{"bucket":"bkt","flush_after":"2h"}`, "flush_after"},
		{"s3 events", "s3", `{"bucket":"bkt","max_events":-5}`, "max_events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := sinkconf.Validate(c.sinkType, json.RawMessage(c.config))
			var se *sinkconf.Error
			if !errors.As(err, &se) {
				t.Fatalf("Validate = %v, want a *sinkconf.Error", err)
			}
			if se.Field != c.field {
				t.Errorf("error %q names field %q, want %q", err, se.Field, c.field)
			}
		})
	}
}

func TestErrorsDoNotQuoteSecrets(t *testing.T) {
	configs := map[string]string{
		"webhook": `{"url":"gopher://TOKEN-1@x/TOKEN-1"}`,
		"slack":   `{"webhook_url":"TOKEN-1"}`,
		"discord": `{"webhook_url":"ssh://TOKEN-1"}`,
	}
	for sinkType, config := range configs {
		err := sinkconf.Validate(sinkType, json.RawMessage(config))
		if err == nil || strings.Contains(err.Error(), "TOKEN-1") {
			t.Errorf("%s: Validate = %v, want an error without the URL", sinkType, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	cases := []struct {
		sinkType, config string
		secrets          []string
		kept             []string
	}{
		{"webhook", `{"url":"https://example.com/hook?token=TOK-URL","headers":{"Authorization":"Bearer TOK-HDR"},"secrets":["` + testSecret + `"]}`,
			[]string{"TOK-URL", "TOK-HDR", testSecret}, []string{"Authorization"}},
		{"slack", `{"webhook_url":"https://hooks.slack.com/services/TOK-URL"}`, []string{"TOK-URL"}, nil},
		{"slack", `{"token":"xoxb-TOK-BOT","channel":"C42"}`, []string{"TOK-BOT"}, []string{"C42"}},
		{"discord", `{"webhook_url":"https://discord.com/api/webhooks/1/TOK-URL","username":"zenith"}`, []string{"TOK-URL"}, []string{"zenith"}},
		{"s3", `{"bucket":"bkt","access_key_id":"AKID","secret_access_key":"TOK-SK","session_token":"TOK-ST"}`,
			[]string{"TOK-SK", "TOK-ST"}, []string{"AKID"}},
	}
	for _, c := range cases {
		t.Run(c.sinkType, func(t *testing.T) {
			redacted, err := sinkconf.Redact(c.sinkType, json.RawMessage(c.config))
			if err != nil {
				t.Fatalf("Redact: %v", err)
			}
			settings, err := sinkconf.Parse(c.sinkType, json.RawMessage(c.config))
			if err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("settings", "sink", settings)
			shown := map[string]string{
				"Redact":   string(redacted),
				"%v":       fmt.Sprintf("%v", settings),
				"%+v":      fmt.Sprintf("%+v", settings),
				"%#v":      fmt.Sprintf("%#v", settings),
				"slog":     logged.String(),
				"Redacted": fmt.Sprint(settings.Redacted()),
			}
			for how, text := range shown {
				for _, secret := range c.secrets {
					if strings.Contains(text, secret) {
						t.Errorf("%s shows the secret %q: %s", how, secret, text)
					}
				}
			}
			for _, kept := range c.kept {
				if !strings.Contains(string(redacted), kept) {
					t.Errorf("Redact dropped %q, which is not secret: %s", kept, redacted)
				}
			}
			if !strings.Contains(string(redacted), sinkconf.RedactedValue) {
				t.Errorf("Redact = %s, want %q in place of the secrets", redacted, sinkconf.RedactedValue)
			}

			// The settings themselves keep their secrets, for storage.
			stored, err := json.Marshal(settings)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range c.secrets {
				if !strings.Contains(string(stored), secret) {
					t.Errorf("settings encoded as %s lost %q", stored, secret)
				}
			}
		})
	}
}

func TestPolicyDefaults(t *testing.T) {
	var p sinkconf.Policy
	for code, want := range map[int]bool{408: true, 429: true, 500: true, 503: true, 599: true, 400: false, 404: false, 410: false, 302: false} {
		if got := p.Retryable(code); got != want {
			t.Errorf("default Retryable(%d) = %v, want %v", code, got, want)
		}
	}
	if p.Age() != sinkconf.DefaultMaxAge || p.Cooldown() != sinkconf.DefaultBreakerCooldown || p.Failures() != sinkconf.DefaultBreakerFailures {
		t.Errorf("defaults: age %v, cooldown %v, failures %d", p.Age(), p.Cooldown(), p.Failures())
	}

	custom := sinkconf.Policy{RetryStatuses: []int{409}, MaxAge: "90s", RateLimit: 2.5}
	if !custom.Retryable(409) || custom.Retryable(503) {
		t.Errorf("retry_statuses [409]: Retryable(409)=%v Retryable(503)=%v, want true, false", custom.Retryable(409), custom.Retryable(503))
	}
	if custom.Age() != 90*time.Second || custom.RateBurst() != 3 {
		t.Errorf("custom: age %v, burst %d; want 1m30s, 3", custom.Age(), custom.RateBurst())
	}
}
