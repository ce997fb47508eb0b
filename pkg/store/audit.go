package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dispatch outcomes recorded in the audit log.
const (
	StatusDelivered    = "delivered"
	StatusDeadLettered = "dead_lettered"
)

// AuditRecord is the outcome of one dispatch: one event delivered (or not) to
// one sink for one rule.
type AuditRecord struct {
	DispatchID  string
	EventID     string
	Source      string
	EventType   string
	RuleID      string
	RuleName    string
	RuleVersion int64
	SinkID      string
	SinkName    string
	SinkType    string
	Status      string
	Attempts    int
	// HTTPStatus is the last HTTP status the sink answered; 0 when none.
	HTTPStatus int
	Latency    time.Duration
	Error      string
	EventTime  time.Time
	MatchedAt  time.Time
	CreatedAt  time.Time
	// UpdatedAt is when the outcome was last replaced (a replayed dead
	// letter's); zero while the row holds its first outcome.
	UpdatedAt time.Time
	// TraceID is the W3C trace id (32 hex digits) of the dispatch's trace;
	// empty when it had no trace context.
	TraceID string
}

const auditColumns = `dispatch_id, event_id, source, event_type, rule_id::TEXT, rule_name, rule_version,
	sink_id::TEXT, sink_name, sink_type, status, attempts, COALESCE(http_status, 0), latency_us,
	error, event_time, matched_at, created_at, updated_at, COALESCE(trace_id, '')`

// InsertAudit writes records in one round trip. A record whose dispatch is
// already recorded as delivered is skipped, so writing the outcome of a
// redelivered action again is harmless. A dispatch recorded as dead-lettered
// takes the new outcome: that is a replayed dead letter's second chance, and
// its row must say how it ended, and when, even when it failed the same way.
func (s *Store) InsertAudit(ctx context.Context, records []AuditRecord) error {
	batch := &pgx.Batch{}
	for _, r := range records {
		batch.Queue(`
			INSERT INTO audit_log (dispatch_id, event_id, source, event_type, rule_id, rule_name,
				rule_version, sink_id, sink_name, sink_type, status, attempts, http_status,
				latency_us, error, event_time, matched_at, trace_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			ON CONFLICT (dispatch_id) DO UPDATE SET
				rule_version = excluded.rule_version, status = excluded.status,
				attempts = excluded.attempts, http_status = excluded.http_status,
				latency_us = excluded.latency_us, error = excluded.error,
				trace_id = COALESCE(excluded.trace_id, audit_log.trace_id), updated_at = now()
			WHERE audit_log.status = 'dead_lettered'`,
			r.DispatchID, r.EventID, r.Source, r.EventType, r.RuleID, r.RuleName, r.RuleVersion,
			r.SinkID, r.SinkName, r.SinkType, r.Status, r.Attempts, nullInt(r.HTTPStatus),
			r.Latency.Microseconds(), r.Error, r.EventTime, r.MatchedAt, nullString(r.TraceID))
	}
	if err := s.q.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("write %d audit rows: %w", len(records), err)
	}
	return nil
}

// AuditByDispatch returns the audit row of a dispatch, or ErrNotFound.
func (s *Store) AuditByDispatch(ctx context.Context, dispatchID string) (AuditRecord, error) {
	r, err := scanAudit(s.q.QueryRow(ctx,
		`SELECT `+auditColumns+` FROM audit_log WHERE dispatch_id = $1`, dispatchID))
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditRecord{}, ErrNotFound
	}
	if err != nil {
		return AuditRecord{}, fmt.Errorf("read audit row: %w", err)
	}
	return r, nil
}

// AuditByEvent returns the audit rows of one event, oldest first.
func (s *Store) AuditByEvent(ctx context.Context, source, eventID string) ([]AuditRecord, error) {
	rows, err := s.q.Query(ctx,
		`SELECT `+auditColumns+` FROM audit_log WHERE source = $1 AND event_id = $2 ORDER BY created_at, dispatch_id`,
		source, eventID)
	if err != nil {
		return nil, fmt.Errorf("list audit rows: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditRecord, error) { return scanAudit(row) })
	if err != nil {
		return nil, fmt.Errorf("list audit rows: %w", err)
	}
	return list, nil
}

// AuditFilter selects audit rows; empty fields select everything.
type AuditFilter struct {
	EventID  string
	RuleName string
	SinkName string
	Status   string
	TraceID  string
	// Since and Until bound the rows' creation time: Since <= t < Until.
	Since, Until time.Time
}

// AuditCursor is where a page of audit rows ends: the next page starts after
// the row with this creation time and dispatch id.
type AuditCursor struct {
	CreatedAt  time.Time
	DispatchID string
}

// ListAudit returns up to limit audit rows that filter selects, newest
// first, starting after the row after names (nil: from the newest). It pages
// by keyset on (created_at, dispatch_id), so a page costs the same however
// deep it is and rows written meanwhile do not shift the pages.
func (s *Store) ListAudit(ctx context.Context, filter AuditFilter, after *AuditCursor, limit int) ([]AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	for _, f := range []struct{ cond, value string }{
		{"event_id = $%d", filter.EventID},
		{"rule_name = $%d", filter.RuleName},
		{"sink_name = $%d", filter.SinkName},
		{"status = $%d", filter.Status},
		{"trace_id = $%d", filter.TraceID},
	} {
		if f.value != "" {
			add(f.cond, f.value)
		}
	}
	if !filter.Since.IsZero() {
		add("created_at >= $%d", filter.Since)
	}
	if !filter.Until.IsZero() {
		add("created_at < $%d", filter.Until)
	}
	if after != nil {
		args = append(args, after.CreatedAt, after.DispatchID)
		where = append(where, fmt.Sprintf("(created_at, dispatch_id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, limit)
	query := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(` ORDER BY created_at DESC, dispatch_id DESC LIMIT $%d`, len(args))

	rows, err := s.q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit rows: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditRecord, error) { return scanAudit(row) })
	if err != nil {
		return nil, fmt.Errorf("list audit rows: %w", err)
	}
	return list, nil
}

// AuditStatuses returns the status of each of dispatchIDs that has an audit
// row, by dispatch id.
func (s *Store) AuditStatuses(ctx context.Context, dispatchIDs []string) (map[string]string, error) {
	statuses := make(map[string]string, len(dispatchIDs))
	if len(dispatchIDs) == 0 {
		return statuses, nil
	}
	rows, err := s.q.Query(ctx,
		`SELECT dispatch_id, status FROM audit_log WHERE dispatch_id = ANY($1)`, dispatchIDs)
	if err != nil {
		return nil, fmt.Errorf("read audit statuses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, fmt.Errorf("read audit statuses: %w", err)
		}
		statuses[id] = status
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit statuses: %w", err)
	}
	return statuses, nil
}

// CountAudit returns how many audit rows have a status.
func (s *Store) CountAudit(ctx context.Context, status string) (int64, error) {
	var n int64
	err := s.q.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE status = $1`, status).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count audit rows: %w", err)
	}
	return n, nil
}

func scanAudit(row pgx.Row) (AuditRecord, error) {
	var r AuditRecord
	var latencyUS int64
	var updatedAt *time.Time
	err := row.Scan(&r.DispatchID, &r.EventID, &r.Source, &r.EventType, &r.RuleID, &r.RuleName,
		&r.RuleVersion, &r.SinkID, &r.SinkName, &r.SinkType, &r.Status, &r.Attempts, &r.HTTPStatus,
		&latencyUS, &r.Error, &r.EventTime, &r.MatchedAt, &r.CreatedAt, &updatedAt, &r.TraceID)
	r.Latency = time.Duration(latencyUS) * time.Microsecond
	if updatedAt != nil {
		r.UpdatedAt = *updatedAt
	}
	return r, err
}

func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}
