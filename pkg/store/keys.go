package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zenith-hq/zenith/pkg/apikey"
)

// APIKey is a stored key: its public id, its source and its bcrypt hash.
type APIKey struct {
	ID         string
	SourceID   string
	SourceName string
	Name       string
	Hash       string
	CreatedAt  time.Time
	// LastUsedAt is when the key last verified, to within the ingestors'
	// revalidation interval; nil when never.
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

const keyColumns = `k.id, k.source_id::TEXT, s.name, k.name, k.hash, k.created_at, k.last_used_at, k.revoked_at`

func scanKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.SourceID, &k.SourceName, &k.Name, &k.Hash, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	return k, err
}

// LookupKey returns the key record the apikey.Verifier needs, or
// apikey.ErrNotFound. It has the shape of an apikey.Lookup.
func (s *Store) LookupKey(ctx context.Context, id string) (apikey.Record, error) {
	var rec apikey.Record
	var revokedAt *time.Time
	row := s.q.QueryRow(ctx, `
		SELECT k.id, k.source_id::TEXT, s.name, k.hash, k.revoked_at
		FROM api_keys k JOIN sources s ON s.id = k.source_id
		WHERE k.id = $1`, id)
	err := row.Scan(&rec.ID, &rec.SourceID, &rec.SourceName, &rec.Hash, &revokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return apikey.Record{}, apikey.ErrNotFound
	}
	if err != nil {
		return apikey.Record{}, fmt.Errorf("read api key: %w", err)
	}
	rec.Revoked = revokedAt != nil
	return rec, nil
}

// KeyByID returns the stored key with id, or ErrNotFound.
func (s *Store) KeyByID(ctx context.Context, id string) (APIKey, error) {
	k, err := scanKey(s.q.QueryRow(ctx, `
		SELECT `+keyColumns+`
		FROM api_keys k JOIN sources s ON s.id = k.source_id
		WHERE k.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("read api key: %w", err)
	}
	return k, nil
}

// CreateKey stores a key of a source under its public id with its hash.
func (s *Store) CreateKey(ctx context.Context, id, sourceID, name, hash string) error {
	_, err := s.q.Exec(ctx,
		`INSERT INTO api_keys (id, source_id, name, hash) VALUES ($1, $2, $3, $4)`,
		id, sourceID, name, hash)
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

// RevokeKeysNamed revokes every live key of a source called name except the
// one with keepID, and returns how many it revoked. Applying a configuration
// uses it so that a rotated key stops working once its replacement is saved.
func (s *Store) RevokeKeysNamed(ctx context.Context, sourceID, name, keepID string) (int64, error) {
	tag, err := s.q.Exec(ctx, `
		UPDATE api_keys SET revoked_at = now()
		WHERE source_id = $1 AND name = $2 AND id <> $3 AND revoked_at IS NULL`,
		sourceID, name, keepID)
	if err != nil {
		return 0, fmt.Errorf("revoke api keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ListKeys returns the keys of the source called sourceName, or of every
// source when it is empty, oldest first; revoked keys are left out unless
// withRevoked.
func (s *Store) ListKeys(ctx context.Context, sourceName string, withRevoked bool) ([]APIKey, error) {
	rows, err := s.q.Query(ctx, `
		SELECT `+keyColumns+`
		FROM api_keys k JOIN sources s ON s.id = k.source_id
		WHERE ($1 = '' OR s.name = $1) AND (k.revoked_at IS NULL OR $2)
		ORDER BY s.name, k.created_at, k.id`, sourceName, withRevoked)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) { return scanKey(row) })
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return list, nil
}

// RevokeKey revokes the key with id for good. Revoking a revoked key changes
// nothing; an unknown id is ErrNotFound.
func (s *Store) RevokeKey(ctx context.Context, id string) (APIKey, error) {
	_, err := s.q.Exec(ctx,
		`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke api key: %w", err)
	}
	return s.KeyByID(ctx, id)
}

// TouchKey records that the key with id was just used.
func (s *Store) TouchKey(ctx context.Context, id string) error {
	if _, err := s.q.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("record api key use: %w", err)
	}
	return nil
}
