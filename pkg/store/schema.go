package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/zenith-hq/zenith/migrations"
)

// schemaPoll is how often WaitForSchema looks again.
const schemaPoll = time.Second

// undefinedTable is the SQLSTATE of a query on a table that does not exist,
// in PostgreSQL and CockroachDB alike.
const undefinedTable = "42P01"

// LatestSchemaVersion returns the version of the newest embedded migration:
// the schema this build of Zenith needs.
func LatestSchemaVersion() (uint, error) {
	names, err := fs.Glob(migrations.FS, "*.up.sql")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var latest uint
	for _, name := range names {
		prefix, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseUint(prefix, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s: version is not a number", name)
		}
		latest = max(latest, uint(v))
	}
	return latest, nil
}

// SchemaVersion returns the schema version golang-migrate recorded, 0 when
// no migration ran yet, and whether the last migration failed half-way.
func (s *Store) SchemaVersion(ctx context.Context) (version uint, dirty bool, err error) {
	var v int64
	err = s.q.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&v, &dirty)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == undefinedTable:
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("read schema version: %w", err)
	}
	return uint(v), dirty, nil
}

// WaitForSchema returns once the database holds the schema this build
// needs, so that a service started before the migrations ran (by the
// ingestor or zenith-migrate) waits for them instead of failing. It calls
// waiting with the version found each time that version changes while it
// waits, and returns an error when ctx ends or a migration failed half-way.
func (s *Store) WaitForSchema(ctx context.Context, waiting func(have, want uint)) error {
	want, err := LatestSchemaVersion()
	if err != nil {
		return err
	}
	reported := false
	var last uint
	for {
		have, dirty, err := s.SchemaVersion(ctx)
		switch {
		case err != nil:
			return err
		case dirty:
			return fmt.Errorf("database schema version %d is dirty: a migration failed half-way and needs fixing by hand", have)
		case have >= want:
			return nil
		}
		if !reported || have != last {
			waiting(have, want)
			reported, last = true, have
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for database schema version %d (at %d): %w", want, have, ctx.Err())
		case <-time.After(schemaPoll):
		}
	}
}
