package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A service setting that cannot work stops zenith-local before it starts
// anything: no state folder, no NATS, no PostgreSQL.
func TestRunRefusesBadServiceSettingsBeforeStarting(t *testing.T) {
	cases := map[string]struct{ key, value, want string }{
		"rule-engine": {"ENGINE_ACK_WAIT", "1s", "ENGINE_ACK_WAIT (1s) must be longer than ENGINE_PUBLISH_TIMEOUT"},
		"dispatcher":  {"DISPATCHER_AUDIT_BATCH_SIZE", "-1", "DISPATCHER_AUDIT_BATCH_SIZE must be at least 1"},
		"ingestor":    {"ZENITH_ADMIN_TOKENS", "short", "admin token 1 is shorter than 16 characters"},
		"unparsable":  {"INGESTOR_MAX_BODY_BYTES", "lots", "INGESTOR_MAX_BODY_BYTES"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			stateDir := filepath.Join(t.TempDir(), "state")
			t.Setenv("ZENITH_STATE_DIR", stateDir)
			t.Setenv(tc.key, tc.value)

			var out bytes.Buffer
			err := run(t.Context(), &out, &out)

			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run with %s=%s: got error %v, want one containing %q", tc.key, tc.value, err, tc.want)
			}
			if _, statErr := os.Stat(stateDir); !os.IsNotExist(statErr) {
				t.Errorf("state folder %s exists after a refused start (stat: %v)", stateDir, statErr)
			}
			if out.Len() != 0 {
				t.Errorf("a refused start printed %q", out.String())
			}
		})
	}
}
