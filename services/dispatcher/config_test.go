package dispatcher

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigFromEnvDefaultsMatchCode(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://localhost/zenith")

	got, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{DatabaseURL: "postgres://localhost/zenith"}.withDefaults()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env defaults differ from code defaults (-code +env):\n%s", diff)
	}
}

func TestConfigFromEnvReadsVariables(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://localhost/zenith")
	t.Setenv("DISPATCHER_WORKER_COUNT", "7")
	t.Setenv("DISPATCHER_ACK_WAIT", "45s")
	t.Setenv("DISPATCHER_AUDIT_LINGER", "2ms")

	got, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if got.WorkerCount != 7 || got.AckWait != 45*time.Second || got.AuditLinger != 2*time.Millisecond {
		t.Errorf("got workers %d, ack wait %v, linger %v; want 7, 45s, 2ms", got.WorkerCount, got.AckWait, got.AuditLinger)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero values mean defaults", Config{DatabaseURL: "postgres://x"}, ""},
		{"database required", Config{}, "DATABASE_URL"},
		{"negative workers", Config{DatabaseURL: "postgres://x", WorkerCount: -1}, "WORKER_COUNT"},
		{"short ack wait", Config{DatabaseURL: "postgres://x", AckWait: time.Millisecond}, "ACK_WAIT"},
		{"ack pending below workers", Config{DatabaseURL: "postgres://x", WorkerCount: 50, MaxAckPending: 10}, "MAX_ACK_PENDING"},
		{"cap below base", Config{DatabaseURL: "postgres://x", RetryBase: time.Second, RetryCap: time.Millisecond}, "RETRY_CAP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestConfigLogHidesCredentials(t *testing.T) {
	cfg := Config{
		NATSURL:     "nats://disp:natspass@nats:4222",
		DatabaseURL: "postgres://zenith:dbpass@db:5432/zenith?sslpassword=keypass",
	}.withDefaults()
	if got := redactURL("host=db password=dbpass"); got != "(redacted)" {
		t.Errorf("redactURL(key=value string) = %q, want (redacted)", got)
	}
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("start", "config", cfg)

	for _, secret := range []string{"natspass", "dbpass", "keypass"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("log line %s holds %q", out.String(), secret)
		}
	}
	if !strings.Contains(out.String(), `"database_url":"postgres://xxxxx@db:5432/zenith?xxxxx"`) {
		t.Errorf("log line %s does not name the database host", out.String())
	}
}
