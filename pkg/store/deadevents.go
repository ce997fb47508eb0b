package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EventDeadLetter records an event the rule-engine gave up on. The event
// itself is kept in the dead-letter stream at DLQSequence.
type EventDeadLetter struct {
	Source    string
	EventID   string
	EventType string
	// Reason says why the event could not be evaluated.
	Reason string
	// Deliveries is how many times the event was delivered to a rule-engine.
	Deliveries  int
	DLQSequence uint64
	CreatedAt   time.Time
	// ReplayedAt is when the dead letter at DLQSequence was replayed through
	// the admin API; zero while it waits.
	ReplayedAt time.Time
}

// RecordEventDeadLetter writes the row of a dead-lettered event. An event
// recorded before takes the new reason, deliveries and sequence, and is no
// longer marked replayed: its new dead letter waits.
func (s *Store) RecordEventDeadLetter(ctx context.Context, d EventDeadLetter) error {
	_, err := s.q.Exec(ctx, `
		INSERT INTO event_dead_letters (source, event_id, event_type, reason, deliveries, dlq_sequence)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (source, event_id) DO UPDATE SET
			event_type = excluded.event_type, reason = excluded.reason,
			deliveries = excluded.deliveries, dlq_sequence = excluded.dlq_sequence,
			created_at = now(), replayed_at = NULL`,
		d.Source, d.EventID, d.EventType, d.Reason, d.Deliveries, int64(d.DLQSequence))
	if err != nil {
		return fmt.Errorf("record dead-lettered event %s/%s: %w", d.Source, d.EventID, err)
	}
	return nil
}

// EventDeadLetters returns the dead-lettered events of source, newest first,
// at most limit of them.
func (s *Store) EventDeadLetters(ctx context.Context, source string, limit int) ([]EventDeadLetter, error) {
	rows, err := s.q.Query(ctx, `
		SELECT `+eventDeadLetterColumns+`
		FROM event_dead_letters WHERE source = $1
		ORDER BY created_at DESC, event_id LIMIT $2`, source, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead-lettered events: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EventDeadLetter, error) { return scanEventDeadLetter(row) })
	if err != nil {
		return nil, fmt.Errorf("list dead-lettered events: %w", err)
	}
	return list, nil
}

// EventDeadLetterOf returns the row of the event (source, eventID), which
// describes its latest dead letter, or ErrNotFound.
func (s *Store) EventDeadLetterOf(ctx context.Context, source, eventID string) (EventDeadLetter, error) {
	d, err := scanEventDeadLetter(s.q.QueryRow(ctx, `
		SELECT `+eventDeadLetterColumns+`
		FROM event_dead_letters WHERE source = $1 AND event_id = $2`, source, eventID))
	if errors.Is(err, pgx.ErrNoRows) {
		return EventDeadLetter{}, ErrNotFound
	}
	if err != nil {
		return EventDeadLetter{}, fmt.Errorf("read dead-lettered event %s/%s: %w", source, eventID, err)
	}
	return d, nil
}

// MarkEventDeadLetterReplayed records that the dead letter of the event
// (source, eventID) at dlqSequence was replayed. It reports whether the row
// was marked: false when the event has no row, or when its row is about a
// later dead letter. A dead letter marked before keeps its first time.
func (s *Store) MarkEventDeadLetterReplayed(ctx context.Context, source, eventID string, dlqSequence uint64) (bool, error) {
	tag, err := s.q.Exec(ctx, `
		UPDATE event_dead_letters SET replayed_at = COALESCE(replayed_at, now())
		WHERE source = $1 AND event_id = $2 AND dlq_sequence = $3`,
		source, eventID, int64(dlqSequence))
	if err != nil {
		return false, fmt.Errorf("mark dead-lettered event %s/%s replayed: %w", source, eventID, err)
	}
	return tag.RowsAffected() == 1, nil
}

const eventDeadLetterColumns = `source, event_id, event_type, reason, deliveries, dlq_sequence, created_at, replayed_at`

func scanEventDeadLetter(row pgx.Row) (EventDeadLetter, error) {
	var d EventDeadLetter
	var seq int64
	var replayedAt *time.Time
	err := row.Scan(&d.Source, &d.EventID, &d.EventType, &d.Reason, &d.Deliveries, &seq, &d.CreatedAt, &replayedAt)
	d.DLQSequence = uint64(seq)
	if replayedAt != nil {
		d.ReplayedAt = *replayedAt
	}
	return d, err
}
