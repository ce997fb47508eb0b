package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/cockroachdb" // cockroachdb:// URLs
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5"      // pgx5:// URLs
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/zenith-hq/zenith/migrations"
)

// Migrate brings the schema of the database at dsn up to date with the
// embedded migrations. The driver follows the URL's scheme: PostgreSQL
// migrations lock with an advisory lock, which CockroachDB lacks, so a
// cockroachdb:// URL selects golang-migrate's CockroachDB driver, which locks
// with a table instead.
//
// Run it once per deploy (make run and the tests do it at start); it is safe
// against concurrent runs.
func Migrate(dsn string) error {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, migrateURL(dsn))
	if err != nil {
		return fmt.Errorf("start migrations: %w", redact(err, dsn))
	}
	defer m.Close()

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

func migrateURL(dsn string) string {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(dsn, scheme); ok {
			return "pgx5://" + rest
		}
	}
	return dsn
}
