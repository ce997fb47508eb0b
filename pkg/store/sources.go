package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// SourceDeletion says what deleting a source deleted with it.
type SourceDeletion struct {
	Rules   int
	APIKeys int
}

// DeleteSource deletes the source called name with its API keys and, when
// withRules is set, its rules. Without it a source that has rules is
// refused with ErrInUse naming them: deleting a team's rules by deleting
// their source is too easy a mistake. Run it in a transaction (InTx), so
// that no rule is added between the check and the deletion. It returns
// ErrNotFound when there is no such source.
func (s *Store) DeleteSource(ctx context.Context, name string, withRules bool) (SourceDeletion, error) {
	rules, err := s.sourceRules(ctx, name)
	if err != nil {
		return SourceDeletion{}, err
	}
	if len(rules) > 0 && !withRules {
		return SourceDeletion{}, fmt.Errorf("source %q has rules (%s): delete them first, or the source with its rules (with_rules, zenithctl sources delete --with-rules): %w",
			name, strings.Join(rules, ", "), ErrInUse)
	}
	var keys int
	if err := s.q.QueryRow(ctx, `
		SELECT count(*) FROM api_keys k JOIN sources src ON src.id = k.source_id
		WHERE src.name = $1`, name).Scan(&keys); err != nil {
		return SourceDeletion{}, fmt.Errorf("count the keys of source %q: %w", name, err)
	}
	tag, err := s.q.Exec(ctx, `DELETE FROM sources WHERE name = $1`, name)
	if err != nil {
		return SourceDeletion{}, fmt.Errorf("delete source %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return SourceDeletion{}, ErrNotFound
	}
	return SourceDeletion{Rules: len(rules), APIKeys: keys}, nil
}

// sourceRules returns the names of the rules of the source called name.
func (s *Store) sourceRules(ctx context.Context, name string) ([]string, error) {
	rows, err := s.q.Query(ctx, `
		SELECT r.name FROM rules r JOIN sources src ON src.id = r.source_id
		WHERE src.name = $1 ORDER BY r.name`, name)
	if err != nil {
		return nil, fmt.Errorf("list the rules of source %q: %w", name, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the rules of source %q: %w", name, err)
	}
	return names, nil
}
