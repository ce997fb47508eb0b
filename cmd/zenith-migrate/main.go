// Command zenith-migrate brings the schema of the database DATABASE_URL
// names up to date with the migrations embedded in it, then exits: 0 when
// the schema is current, 1 when it could not be migrated.
//
// It is the once-per-deploy step that deployments run before the services
// start (a Kubernetes Job in deploy/), so that autoscaled replicas never race
// for the migration lock; the ingestor's own migration at start is then
// turned off with DATABASE_MIGRATE=false. A postgres:// URL migrates with
// PostgreSQL's advisory lock, a cockroachdb:// URL with CockroachDB's lock
// table (see store.Migrate).
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/pkg/usage"
)

// config is what zenith-migrate reads from the environment.
type config struct {
	// DatabaseURL is the database to migrate. It may hold a password: never
	// log it.
	DatabaseURL string `env:"DATABASE_URL,required,notEmpty"`
}

func main() {
	if len(os.Args) > 1 {
		os.Exit(usage.Print(os.Stderr, os.Args, "Applies Zenith's database migrations to DATABASE_URL, then exits.", &config{}))
	}
	if err := run(os.Stderr); err != nil {
		os.Exit(1)
	}
}

// run migrates and logs the outcome to logOut as JSON.
func run(logOut io.Writer) error {
	log := telemetry.NewLogger(logOut, "zenith-migrate", slog.LevelInfo)
	err := migrate()
	if err != nil {
		log.Error("migration failed", "err", err)
		return err
	}
	log.Info("schema up to date")
	return nil
}

func migrate() error {
	cfg, err := usage.ParseEnv[config](env.Options{})
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	return store.Migrate(cfg.DatabaseURL)
}
