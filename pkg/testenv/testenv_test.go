package testenv

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zenith-hq/zenith/pkg/store"
)

func TestMain(m *testing.M) { Main(m) }

// TestDatabaseLifecycleWithCockroachScheme creates and drops a database
// through a cockroachdb:// server URL, the form CI gives for its CockroachDB
// leg. On PostgreSQL, which speaks the same protocol, the test proves that
// the scheme is translated before pgx sees it.
func TestDatabaseLifecycleWithCockroachScheme(t *testing.T) {
	ctx := context.Background()
	server, err := serverURL(ctx)
	if err != nil {
		t.Fatalf("no PostgreSQL for the tests: %v", err)
	}
	pgURL := store.ConnString(server)
	rest, ok := strings.CutPrefix(pgURL, "postgres://")
	if !ok {
		t.Fatalf("the server URL in %s must start with postgres:// or cockroachdb://", DatabaseURLEnv)
	}
	crdbURL := "cockroachdb://" + rest
	name := "zenith_testenv_" + uuid.NewString()[:8]

	if err := createDatabase(ctx, crdbURL, name); err != nil {
		t.Fatalf("createDatabase with a cockroachdb:// URL: %v", err)
	}
	if !databaseExists(t, pgURL, name) {
		t.Fatalf("database %s missing after createDatabase", name)
	}
	if got := withDatabase(crdbURL, name); !strings.HasPrefix(got, "cockroachdb://") || !strings.Contains(got, "/"+name) {
		t.Errorf("withDatabase lost the cockroachdb:// scheme or database %s", name)
	}

	dropDatabase(crdbURL, name)
	if databaseExists(t, pgURL, name) {
		t.Errorf("database %s still there after dropDatabase", name)
	}
}

func databaseExists(t *testing.T, serverURL, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	return exists
}
