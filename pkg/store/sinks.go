package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sink is a destination for actions. Config holds its type's settings, some
// of them secret.
type Sink struct {
	ID        string
	Name      string
	Type      string
	Config    json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

const sinkColumns = `id::TEXT, name, type, config, created_at, updated_at`

func scanSink(row pgx.Row) (Sink, error) {
	var k Sink
	err := row.Scan(&k.ID, &k.Name, &k.Type, &k.Config, &k.CreatedAt, &k.UpdatedAt)
	return k, err
}

// SinkByName returns the sink called name, or ErrNotFound.
func (s *Store) SinkByName(ctx context.Context, name string) (Sink, error) {
	k, err := scanSink(s.q.QueryRow(ctx, `SELECT `+sinkColumns+` FROM sinks WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Sink{}, ErrNotFound
	}
	if err != nil {
		return Sink{}, fmt.Errorf("read sink %q: %w", name, err)
	}
	return k, nil
}

// ListSinks returns every sink, by name.
func (s *Store) ListSinks(ctx context.Context) ([]Sink, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sinkColumns+` FROM sinks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list sinks: %w", err)
	}
	sinks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Sink, error) { return scanSink(row) })
	if err != nil {
		return nil, fmt.Errorf("list sinks: %w", err)
	}
	return sinks, nil
}

// PutSink creates the sink called name or updates its type and settings.
// changed is false when the stored sink already had them.
func (s *Store) PutSink(ctx context.Context, name, sinkType string, config json.RawMessage) (sink Sink, changed bool, err error) {
	existing, err := s.SinkByName(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		sink, err = s.CreateSink(ctx, name, sinkType, config)
		return sink, err == nil, err
	case err != nil:
		return Sink{}, false, err
	}

	if existing.Type == sinkType && sameJSON(existing.Config, config) {
		return existing, false, nil
	}
	sink, err = scanSink(s.q.QueryRow(ctx,
		`UPDATE sinks SET type = $2, config = $3, updated_at = now() WHERE id = $1 RETURNING `+sinkColumns,
		existing.ID, sinkType, config))
	if err != nil {
		return Sink{}, false, fmt.Errorf("update sink %q: %w", name, err)
	}
	return sink, true, nil
}

// CreateSink creates a sink. It returns ErrExists when one already has the
// name.
func (s *Store) CreateSink(ctx context.Context, name, sinkType string, config json.RawMessage) (Sink, error) {
	sink, err := scanSink(s.q.QueryRow(ctx,
		`INSERT INTO sinks (name, type, config) VALUES ($1, $2, $3) RETURNING `+sinkColumns,
		name, sinkType, config))
	if hasCode(err, uniqueViolation) {
		return Sink{}, fmt.Errorf("sink %q: %w", name, ErrExists)
	}
	if err != nil {
		return Sink{}, fmt.Errorf("create sink %q: %w", name, err)
	}
	return sink, nil
}

// DeleteSink deletes the sink called name. It returns ErrNotFound when there
// is none, and ErrInUse, naming the rules, while rules act on it.
func (s *Store) DeleteSink(ctx context.Context, name string) error {
	users, err := s.sinkUsers(ctx, name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("sink %q: rules act on it (%s): %w", name, strings.Join(users, ", "), ErrInUse)
	}
	tag, err := s.q.Exec(ctx, `DELETE FROM sinks WHERE name = $1`, name)
	if hasCode(err, foreignKeyViolation) {
		// A rule took the sink between the two statements.
		return fmt.Errorf("sink %q: a rule acts on it: %w", name, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("delete sink %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// sinkUsers returns the rules acting on the sink called name, as
// source/rule, by name.
func (s *Store) sinkUsers(ctx context.Context, name string) ([]string, error) {
	rows, err := s.q.Query(ctx, `
		SELECT src.name || '/' || r.name
		FROM rule_sinks rs
		JOIN sinks k ON k.id = rs.sink_id
		JOIN rules r ON r.id = rs.rule_id
		JOIN sources src ON src.id = r.source_id
		WHERE k.name = $1
		ORDER BY 1`, name)
	if err != nil {
		return nil, fmt.Errorf("find the rules of sink %q: %w", name, err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find the rules of sink %q: %w", name, err)
	}
	return users, nil
}

// sameJSON reports whether two JSON documents hold the same value, whatever
// their key order and spacing (JSONB normalises both).
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ca, errA := canonicalJSON(a)
	cb, errB := canonicalJSON(b)
	return errA == nil && errB == nil && bytes.Equal(ca, cb)
}

// canonicalJSON re-encodes a JSON document with sorted keys, no spacing
// and each number in one spelling of its exact value, since JSONB writes
// 1e3 as 1000 and 1.50 as 1.50.
func canonicalJSON(b json.RawMessage) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(canonicalNumbers(v))
}

// canonicalNumbers replaces every number in v by canonicalNumber's
// spelling of it.
func canonicalNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return canonicalNumber(x)
	case map[string]any:
		for k, child := range x {
			x[k] = canonicalNumbers(child)
		}
	case []any:
		for i, child := range x {
			x[i] = canonicalNumbers(child)
		}
	}
	return v
}

// canonicalNumber spells a JSON number as its significant digits and a
// power of ten, such as 15e-1 for 1.50 and 1e3 for 1000, so that two
// spellings of one value are equal, however large the exponent, without
// computing the value.
func canonicalNumber(n json.Number) json.Number {
	text := string(n)
	sign, text := "", strings.TrimPrefix(text, "-")
	if len(text) < len(n) {
		sign = "-"
	}
	mantissa, expText, _ := strings.Cut(strings.ToLower(text), "e")
	exp, err := strconv.Atoi(expText)
	if expText == "" {
		exp, err = 0, nil
	}
	if err != nil {
		return n
	}
	whole, frac, _ := strings.Cut(mantissa, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	if trimmed == "" {
		return "0"
	}
	return json.Number(sign + trimmed + "e" + strconv.Itoa(exp))
}
