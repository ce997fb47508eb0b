package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
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

// An address the pipeline cannot listen on is named with the variable that
// moves it before anything starts.
func TestRunNamesTakenOrInvalidAddresses(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cases := map[string]struct{ key, value, want string }{
		"taken NATS port": {"ZENITH_NATS_PORT", strconv.Itoa(taken.Addr().(*net.TCPAddr).Port),
			"ZENITH_NATS_PORT: 127.0.0.1:" + strconv.Itoa(taken.Addr().(*net.TCPAddr).Port) + " is taken (by another pipeline?): set ZENITH_NATS_PORT to move it"},
		"taken ingestor address":  {"INGESTOR_ADDR", taken.Addr().String(), "INGESTOR_ADDR: " + taken.Addr().String() + " is taken"},
		"receiver without a port": {"ZENITH_RECEIVER_ADDR", "garbage", `ZENITH_RECEIVER_ADDR: cannot listen on "garbage"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("ZENITH_STATE_DIR", filepath.Join(t.TempDir(), "state"))
			// Every other address is one that is always free, so that a
			// pipeline running on this machine does not decide the test.
			for _, key := range []string{"INGESTOR_ADDR", "INGESTOR_ADMIN_ADDR", "INGESTOR_ADMIN_API_ADDR", "ENGINE_ADMIN_ADDR", "DISPATCHER_ADMIN_ADDR", "ZENITH_RECEIVER_ADDR"} {
				t.Setenv(key, "127.0.0.1:0")
			}
			t.Setenv("ZENITH_NATS_PORT", "0")
			t.Setenv(tc.key, tc.value)

			var out bytes.Buffer
			err := run(t.Context(), &out, &out)

			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run with %s=%s: got error %v, want one containing %q", tc.key, tc.value, err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("a refused start printed %q", out.String())
			}
		})
	}
}
