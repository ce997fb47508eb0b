package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Source is a producer of events, such as a shop or a CI system.
type Source struct {
	ID        string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EnsureSource returns the source called name, creating it when it does not
// exist. created says which.
func (s *Store) EnsureSource(ctx context.Context, name string) (src Source, created bool, err error) {
	src, err = s.SourceByName(ctx, name)
	if err == nil {
		return src, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Source{}, false, err
	}

	src, err = s.CreateSource(ctx, name)
	if err != nil {
		return Source{}, false, err
	}
	return src, true, nil
}

// SourceByName returns the source called name, or ErrNotFound.
func (s *Store) SourceByName(ctx context.Context, name string) (Source, error) {
	src, err := scanSource(s.q.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Source{}, ErrNotFound
	}
	if err != nil {
		return Source{}, fmt.Errorf("read source %q: %w", name, err)
	}
	return src, nil
}

const sourceColumns = `id::TEXT, name, created_at, updated_at`

func scanSource(row pgx.Row) (Source, error) {
	var src Source
	err := row.Scan(&src.ID, &src.Name, &src.CreatedAt, &src.UpdatedAt)
	return src, err
}

// CreateSource creates a source called name. It returns ErrExists when one
// already has that name.
func (s *Store) CreateSource(ctx context.Context, name string) (Source, error) {
	src, err := scanSource(s.q.QueryRow(ctx,
		`INSERT INTO sources (name) VALUES ($1) RETURNING `+sourceColumns, name))
	if hasCode(err, uniqueViolation) {
		return Source{}, fmt.Errorf("source %q: %w", name, ErrExists)
	}
	if err != nil {
		return Source{}, fmt.Errorf("create source %q: %w", name, err)
	}
	return src, nil
}

// ListSources returns every source, by name.
func (s *Store) ListSources(ctx context.Context) ([]Source, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sourceColumns+` FROM sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Source, error) { return scanSource(row) })
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return list, nil
}

// RenameSource gives the source called name the name newName. Its keys and
// rules follow it. It returns ErrNotFound or ErrExists.
func (s *Store) RenameSource(ctx context.Context, name, newName string) (Source, error) {
	src, err := scanSource(s.q.QueryRow(ctx,
		`UPDATE sources SET name = $2, updated_at = now() WHERE name = $1 RETURNING `+sourceColumns,
		name, newName))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Source{}, ErrNotFound
	case hasCode(err, uniqueViolation):
		return Source{}, fmt.Errorf("source %q: %w", newName, ErrExists)
	case err != nil:
		return Source{}, fmt.Errorf("rename source %q: %w", name, err)
	}
	return src, nil
}

// DeleteSource deletes the source called name with its keys and rules. It
// returns ErrNotFound when there is none.
func (s *Store) DeleteSource(ctx context.Context, name string) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM sources WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete source %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
