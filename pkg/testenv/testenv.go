// Package testenv gives integration tests the real things they run against:
// a fresh, migrated PostgreSQL database per test and an embedded NATS server
// with JetStream. Nothing is mocked.
//
// The database server is the one ZENITH_TEST_DATABASE_URL points at when it
// is set (CI sets it: a postgres:// URL for PostgreSQL, a cockroachdb:// URL
// for CockroachDB, which also selects CockroachDB's migration driver), and
// otherwise a throwaway cluster started with the
// machine's initdb and pg_ctl for the test binary's lifetime. A package that
// uses Postgres must run its tests through Main so that the cluster is
// stopped at the end.
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/zenith-hq/zenith/pkg/localpg"
	"github.com/zenith-hq/zenith/pkg/natsembed"
	"github.com/zenith-hq/zenith/pkg/store"
)

// DatabaseURLEnv names the variable that points the tests at an existing
// PostgreSQL server instead of starting one.
const DatabaseURLEnv = "ZENITH_TEST_DATABASE_URL"

var (
	clusterOnce sync.Once
	cluster     *localpg.Cluster
	clusterDir  string
	clusterErr  error
)

// Main runs the tests of a package and then stops the throwaway cluster, if
// one was started. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stop PostgreSQL:", err)
		}
		cancel()
		os.RemoveAll(clusterDir)
	}
	os.Exit(code)
}

// Postgres creates an empty database, applies the migrations to it and
// returns its URL. The database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := EmptyDatabase(t)
	if err := store.Migrate(dsn); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return dsn
}

// EmptyDatabase creates a database without any tables, for tests of the
// migrations themselves, and returns its URL. The database is dropped when
// the test ends.
func EmptyDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	serverURL, err := serverURL(ctx)
	if err != nil {
		t.Fatalf("no PostgreSQL for the tests: %v", err)
	}
	name := "zenith_test_" + uuid.NewString()[:8]
	if err := createDatabase(ctx, serverURL, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(serverURL, name) })
	return withDatabase(serverURL, name)
}

// Store opens a fresh, migrated database (see Postgres); it is closed when
// the test ends.
func Store(t testing.TB) (*store.Store, string) {
	t.Helper()
	dsn := Postgres(t)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, dsn
}

// OwnPostgres starts a PostgreSQL cluster for the test alone, so that the
// test may stop and start it (Stop, then localpg.Start with the same
// options), and returns it with the URL of a migrated database on it. The
// cluster is stopped and deleted when the test ends. It ignores
// ZENITH_TEST_DATABASE_URL: a shared server cannot be stopped.
func OwnPostgres(t testing.TB) (*localpg.Cluster, localpg.Options, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: the postgres user must be able to reach the folder,
	// and every folder above it.
	dir, err := os.MkdirTemp("", "zenith-test-pg-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	opts := localpg.Options{Dir: filepath.Join(dir, "data"), Throwaway: true}
	c, err := localpg.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start a PostgreSQL cluster for the test: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(ctx) // it may be stopped already
	})
	opts.Port = c.Port()
	if err := c.CreateDatabase(ctx, "zenith"); err != nil {
		t.Fatal(err)
	}
	dsn := c.URL("zenith")
	if err := store.Migrate(dsn); err != nil {
		t.Fatalf("migrate the test's database: %v", err)
	}
	return c, opts, dsn
}

// NATS starts an embedded NATS server with JetStream in a temporary folder
// and returns its URL; it is shut down when the test ends.
func NATS(t testing.TB) string {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv.URL()
}

// serverURL returns the URL of the PostgreSQL server the tests use,
// starting the throwaway cluster on first use.
func serverURL(ctx context.Context) (string, error) {
	if u := os.Getenv(DatabaseURLEnv); u != "" {
		return u, nil
	}
	clusterOnce.Do(func() {
		cluster, clusterDir, clusterErr = startCluster(ctx)
	})
	if clusterErr != nil {
		return "", fmt.Errorf("%w (or set %s to a server the tests may create databases on)", clusterErr, DatabaseURLEnv)
	}
	return cluster.URL("postgres"), nil
}

func startCluster(ctx context.Context) (*localpg.Cluster, string, error) {
	dir, err := os.MkdirTemp("", "zenith-test-pg-")
	if err != nil {
		return nil, "", err
	}
	// The postgres user must be able to reach the cluster folder inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, "", err
	}
	c, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(dir, "data"), Throwaway: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return c, dir, nil
}

// createDatabase and dropDatabase connect through store.ConnString because
// pgx knows only the postgres:// scheme, not cockroachdb://.
func createDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, store.ConnString(serverURL))
	if err != nil {
		return fmt.Errorf("connect to test PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create test database: %w", err)
	}
	return nil
}

func dropDatabase(serverURL, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, store.ConnString(serverURL))
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
}

// withDatabase returns serverURL pointing at database name.
func withDatabase(serverURL, name string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		return serverURL
	}
	u.Path = "/" + name
	return u.String()
}

// WaitFor polls done every 20ms until it holds, and fails the test if it
// does not within timeout. It is for waiting on the pipeline's other
// goroutines and processes, which a test cannot synchronise with directly.
func WaitFor(t testing.TB, timeout time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
