package store

import (
	"context"
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
}

// RecordEventDeadLetter writes the row of a dead-lettered event. An event
// recorded before takes the new reason, deliveries and sequence.
func (s *Store) RecordEventDeadLetter(ctx context.Context, d EventDeadLetter) error {
	_, err := s.q.Exec(ctx, `
		INSERT INTO event_dead_letters (source, event_id, event_type, reason, deliveries, dlq_sequence)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (source, event_id) DO UPDATE SET
			event_type = excluded.event_type, reason = excluded.reason,
			deliveries = excluded.deliveries, dlq_sequence = excluded.dlq_sequence,
			created_at = now()`,
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
		SELECT source, event_id, event_type, reason, deliveries, dlq_sequence, created_at
		FROM event_dead_letters WHERE source = $1
		ORDER BY created_at DESC, event_id LIMIT $2`, source, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead-lettered events: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EventDeadLetter, error) {
		var d EventDeadLetter
		var seq int64
		err := row.Scan(&d.Source, &d.EventID, &d.EventType, &d.Reason, &d.Deliveries, &seq, &d.CreatedAt)
		d.DLQSequence = uint64(seq)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list dead-lettered events: %w", err)
	}
	return list, nil
}
