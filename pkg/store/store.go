// Package store keeps Zenith's state in PostgreSQL or CockroachDB: sources,
// API keys, sinks, rules and the audit log. It uses raw SQL through pgx and
// stays inside what both databases support.
//
// A Store is safe for concurrent use. Writes that must be atomic run through
// InTx, which retries a transaction CockroachDB aborts with a serialization
// error (SQLSTATE 40001).
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors a caller branches on.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a row with that name already exists.
	ErrExists = errors.New("already exists")
	// ErrInUse means the row cannot be deleted while others refer to it.
	ErrInUse = errors.New("in use")
)

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Store reads and writes Zenith's state.
type Store struct {
	pool *pgxpool.Pool
	q    querier
}

// Open connects to the database at dsn, a postgres:// URL (a cockroachdb://
// URL is accepted too and means the same connection). The caller closes the
// Store.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(ConnString(dsn))
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redact(err, dsn))
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", redact(err, dsn))
	}
	return &Store{pool: pool, q: pool}, nil
}

// Close releases the connections.
func (s *Store) Close() {
	s.pool.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// ConnString turns a Zenith database URL into one pgx understands: the
// cockroachdb:// scheme, which selects CockroachDB's migration driver, is a
// plain postgres:// connection to pgx.
func ConnString(dsn string) string {
	for _, scheme := range []string{"cockroachdb://", "cockroach://", "crdb-postgres://"} {
		if rest, ok := strings.CutPrefix(dsn, scheme); ok {
			return "postgres://" + rest
		}
	}
	return dsn
}

// InTx runs fn in a transaction with a Store bound to it, committing when fn
// returns nil. A serialization failure restarts fn, a few times at most, so fn
// must be safe to run again.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	const attempts = 5
	var err error
	for i := range attempts {
		err = s.runTx(ctx, fn)
		if !isRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i+1) * 20 * time.Millisecond):
		}
	}
	return err
}

func (s *Store) runTx(ctx context.Context, fn func(tx *Store) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	if err := fn(&Store{pool: s.pool, q: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SQLSTATE codes the store turns into its own errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// hasCode reports whether err is a database error with SQLSTATE code.
func hasCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40001"
}

// redact keeps the password of the database URL dsn out of an error
// message: pgx's and golang-migrate's errors can quote the URL.
func redact(err error, dsn string) error {
	var parseErr *pgconn.ParseConfigError
	if errors.As(err, &parseErr) {
		return errors.New("invalid database url")
	}
	u, perr := url.Parse(dsn)
	if perr != nil {
		return errors.New("invalid database url")
	}
	password, ok := u.User.Password()
	if !ok || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "xxxxx"))
}
