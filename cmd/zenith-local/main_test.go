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
		"ingestor":    {"ZENITH_ADMIN_TOKENS", "short", "ZENITH_ADMIN_TOKENS: token 1 is shorter than 16 characters"},
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

// An address the pipeline cannot listen on, or a configuration file it
// cannot read, is named with the variable that sets it before anything
// starts.
func TestRunNamesTakenOrInvalidAddresses(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"taken NATS port": {map[string]string{"ZENITH_NATS_PORT": takenPort},
			"ZENITH_NATS_PORT: 127.0.0.1:" + takenPort + " is taken (by another pipeline?): set ZENITH_NATS_PORT to move it"},
		"taken PostgreSQL port": {map[string]string{"ZENITH_PG_PORT": takenPort},
			"ZENITH_PG_PORT: 127.0.0.1:" + takenPort + " is taken"},
		"taken ingestor address":  {map[string]string{"INGESTOR_ADDR": taken.Addr().String()}, "INGESTOR_ADDR: " + taken.Addr().String() + " is taken"},
		"receiver without a port": {map[string]string{"ZENITH_RECEIVER_ADDR": "garbage"}, `ZENITH_RECEIVER_ADDR: cannot listen on "garbage"`},
		"one address for two settings": {map[string]string{"INGESTOR_ADDR": "127.0.0.1:" + freePort(t), "ENGINE_ADMIN_ADDR": "INGESTOR_ADDR"},
			"is also INGESTOR_ADDR: give each its own address"},
		"missing configuration file": {map[string]string{"ZENITH_CONFIG": "nowhere.yaml"}, "ZENITH_CONFIG: read config: open nowhere.yaml"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("ZENITH_STATE_DIR", filepath.Join(t.TempDir(), "state"))
			t.Setenv("ZENITH_CONFIG", "../../examples/zenith.yaml")
			// Every other address is one that is always free, so that a
			// pipeline running on this machine does not decide the test.
			for _, key := range []string{"INGESTOR_ADDR", "INGESTOR_ADMIN_ADDR", "INGESTOR_ADMIN_API_ADDR", "ENGINE_ADMIN_ADDR", "DISPATCHER_ADMIN_ADDR", "ZENITH_RECEIVER_ADDR"} {
				t.Setenv(key, "127.0.0.1:0")
			}
			t.Setenv("ZENITH_NATS_PORT", "0")
			t.Setenv("ZENITH_PG_PORT", "0")
			for key, value := range tc.env {
				if other, ok := tc.env[value]; ok {
					value = other // the same address as another setting
				}
				t.Setenv(key, value)
			}

			var out bytes.Buffer
			err := run(t.Context(), &out, &out)

			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run with %v: got error %v, want one containing %q", tc.env, err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("a refused start printed %q", out.String())
			}
		})
	}
}

// freePort returns a port nothing listens on just now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
