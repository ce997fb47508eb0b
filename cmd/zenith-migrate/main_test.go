package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestMigratesAnEmptyDatabaseOnce(t *testing.T) {
	dsn := testenv.EmptyDatabase(t)
	t.Setenv("DATABASE_URL", dsn)

	for _, pass := range []string{"first", "second"} {
		var logs bytes.Buffer
		if err := run(&logs); err != nil {
			t.Fatalf("%s run: %v\n%s", pass, err, logs.String())
		}
		if got := lastMessage(t, &logs); got != "schema up to date" {
			t.Errorf("%s run logged %q, want %q", pass, got, "schema up to date")
		}
	}

	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.ListSinks(context.Background())
	if err != nil {
		t.Fatalf("ListSinks on the migrated database: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("a fresh schema holds %d sinks, want 0", len(list))
	}
}

func TestFailsWithoutADatabase(t *testing.T) {
	tests := []struct {
		name, url, wantErr string
	}{
		{"unset", "", "DATABASE_URL"},
		{"unreachable", "postgres://zenith:s3cret-pw@127.0.0.1:1/zenith?sslmode=disable", "migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DATABASE_URL", tt.url)
			var logs bytes.Buffer
			err := run(&logs)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run = %v, want an error naming %s", err, tt.wantErr)
			}
			if strings.Contains(logs.String(), "s3cret-pw") {
				t.Errorf("the log shows the database password:\n%s", logs.String())
			}
			if got := lastMessage(t, &logs); got != "migration failed" {
				t.Errorf("logged %q, want %q", got, "migration failed")
			}
		})
	}
}

// lastMessage returns the msg of the last JSON line in logs.
func lastMessage(t *testing.T, logs *bytes.Buffer) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var line struct {
		Msg string `json:"msg"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, logs.String())
	}
	return line.Msg
}
