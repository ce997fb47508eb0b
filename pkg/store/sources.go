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

	row := s.q.QueryRow(ctx,
		`INSERT INTO sources (name) VALUES ($1) RETURNING id::TEXT, name, created_at, updated_at`, name)
	if err := row.Scan(&src.ID, &src.Name, &src.CreatedAt, &src.UpdatedAt); err != nil {
		return Source{}, false, fmt.Errorf("create source %q: %w", name, err)
	}
	return src, true, nil
}

// SourceByName returns the source called name, or ErrNotFound.
func (s *Store) SourceByName(ctx context.Context, name string) (Source, error) {
	var src Source
	row := s.q.QueryRow(ctx,
		`SELECT id::TEXT, name, created_at, updated_at FROM sources WHERE name = $1`, name)
	err := row.Scan(&src.ID, &src.Name, &src.CreatedAt, &src.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Source{}, ErrNotFound
	}
	if err != nil {
		return Source{}, fmt.Errorf("read source %q: %w", name, err)
	}
	return src, nil
}
