package dispatcher

import (
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
