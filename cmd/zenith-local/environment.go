package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/localpg"
	"github.com/zenith-hq/zenith/pkg/natsembed"
	"github.com/zenith-hq/zenith/pkg/store"
)

// localDatabase is the database zenith-local makes in its own cluster.
const localDatabase = "zenith"

// environment is the NATS server and database the services run against,
// with whatever zenith-local started to provide them.
type environment struct {
	natsURL     string
	databaseURL string
	nats        *natsembed.Server
	postgres    *localpg.Cluster
}

// startEnvironment starts (or connects to) NATS and the database, applies
// the migrations and the configuration file. When any step fails, it stops
// what it had started before returning the error.
func startEnvironment(ctx context.Context, opts options, out io.Writer) (*environment, error) {
	env := &environment{natsURL: opts.NATSURL, databaseURL: opts.DatabaseURL}
	if err := env.start(ctx, opts, out); err != nil {
		env.stop(out)
		return nil, err
	}
	return env, nil
}

func (e *environment) start(ctx context.Context, opts options, out io.Writer) error {
	if err := e.startNATS(opts, out); err != nil {
		return err
	}
	if err := e.startPostgres(ctx, opts, out); err != nil {
		return err
	}
	fmt.Fprintln(out, "applying database migrations")
	if err := store.Migrate(e.databaseURL); err != nil {
		return err
	}
	return e.applyConfig(ctx, opts.ConfigPath, out)
}

func (e *environment) startNATS(opts options, out io.Writer) error {
	if e.natsURL != "" {
		fmt.Fprintln(out, "using NATS at", e.natsURL)
		return nil
	}
	dir := filepath.Join(opts.StateDir, "nats")
	fmt.Fprintf(out, "starting embedded NATS with JetStream on port %d (data in %s)\n", opts.NATSPort, dir)
	srv, err := natsembed.Start(natsembed.Options{Port: opts.NATSPort, StoreDir: dir})
	if err != nil {
		return fmt.Errorf("%w (is another NATS using port %d? set ZENITH_NATS_PORT or NATS_URL)", err, opts.NATSPort)
	}
	e.nats = srv
	e.natsURL = srv.URL()
	return nil
}

func (e *environment) startPostgres(ctx context.Context, opts options, out io.Writer) error {
	if e.databaseURL != "" {
		fmt.Fprintln(out, "using the database in DATABASE_URL")
		return nil
	}
	dir, err := postgresDir(opts.StateDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "starting local PostgreSQL on port %d (data in %s)\n", opts.PostgresPort, dir)
	cluster, err := localpg.Start(ctx, localpg.Options{Dir: dir, Port: opts.PostgresPort})
	if err != nil {
		return fmt.Errorf("%w (ZENITH_PG_PORT moves the local PostgreSQL, DATABASE_URL uses yours)", err)
	}
	e.postgres = cluster
	if err := ensureDatabase(ctx, cluster); err != nil {
		return err
	}
	e.databaseURL = cluster.URL(localDatabase)
	return nil
}

// postgresDir is where the local cluster lives. PostgreSQL will not run as
// root, so as root it runs as the postgres user, who may not be able to
// reach the state folder (under /root, say): then the cluster lives in the
// system's temporary folder, in a place named after the state folder.
func postgresDir(stateDir string) (string, error) {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return "", err
	}
	if os.Geteuid() != 0 {
		return filepath.Join(abs, "pg"), nil
	}
	sum := sha256.Sum256([]byte(abs))
	parent := filepath.Join(os.TempDir(), "zenith-local-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create PostgreSQL folder: %w", err)
	}
	return filepath.Join(parent, "pg"), nil
}

func ensureDatabase(ctx context.Context, cluster *localpg.Cluster) error {
	err := cluster.CreateDatabase(ctx, localDatabase)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	return nil
}

// applyConfig applies the configuration file and tells running replicas.
func (e *environment) applyConfig(ctx context.Context, path string, out io.Writer) error {
	file, err := config.Load(path)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, e.databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	report, err := config.Apply(ctx, st, file, config.Options{})
	if err != nil {
		return fmt.Errorf("apply %s: %w", path, err)
	}
	fmt.Fprintf(out, "applied %s: %d change(s)\n", path, len(report.Changes))
	for _, change := range report.Changes {
		fmt.Fprintln(out, "  ", change)
	}
	if report.Changed() {
		return announce(e.natsURL)
	}
	return nil
}

func announce(natsURL string) error {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	return bus.AnnounceChange(nc)
}

// stop stops what startEnvironment started.
func (e *environment) stop(out io.Writer) {
	if e.nats != nil {
		e.nats.Shutdown()
		e.nats = nil
	}
	if e.postgres != nil {
		fmt.Fprintln(out, "stopping local PostgreSQL")
		if err := e.postgres.Stop(context.Background()); err != nil {
			fmt.Fprintln(out, "stop PostgreSQL:", err)
		}
		e.postgres = nil
	}
}
