package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rule is a stored rule with the sinks it acts on.
type Rule struct {
	ID         string
	SourceID   string
	SourceName string
	Name       string
	EventType  string
	// Condition is nil for a rule that matches every event of its type.
	Condition json.RawMessage
	Fallback  bool
	Priority  int
	Enabled   bool
	Version   int64
	Sinks     []RuleSink
	UpdatedAt time.Time
}

// RuleSink names one sink a rule acts on.
type RuleSink struct {
	ID   string
	Name string
	Type string
}

// RuleSpec is what a caller sets when saving a rule.
type RuleSpec struct {
	SourceID  string
	Name      string
	EventType string
	Condition json.RawMessage
	Fallback  bool
	Priority  int
	Enabled   bool
	// SinkIDs are the sinks the rule acts on, in order.
	SinkIDs []string
}

const ruleColumns = `r.id::TEXT, r.source_id::TEXT, s.name, r.name, r.event_type, r.condition,
	r.fallback, r.priority, r.enabled, r.version, r.updated_at`

func scanRule(row pgx.Row) (Rule, error) {
	var r Rule
	err := row.Scan(&r.ID, &r.SourceID, &r.SourceName, &r.Name, &r.EventType, &r.Condition,
		&r.Fallback, &r.Priority, &r.Enabled, &r.Version, &r.UpdatedAt)
	return r, err
}

// ListRules returns every rule with its sinks, grouped by source and ordered
// by name. With enabledOnly, disabled rules are left out.
func (s *Store) ListRules(ctx context.Context, enabledOnly bool) ([]Rule, error) {
	rows, err := s.q.Query(ctx, `
		SELECT `+ruleColumns+`
		FROM rules r JOIN sources s ON s.id = r.source_id
		WHERE r.enabled OR NOT $1
		ORDER BY s.name, r.name`, enabledOnly)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rule, error) { return scanRule(row) })
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	if err := s.attachSinks(ctx, list); err != nil {
		return nil, err
	}
	return list, nil
}

// attachSinks fills in the sinks of each rule with one query.
func (s *Store) attachSinks(ctx context.Context, list []Rule) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[string]int, len(list))
	ids := make([]string, len(list))
	for i, r := range list {
		index[r.ID] = i
		ids[i] = r.ID
	}
	rows, err := s.q.Query(ctx, `
		SELECT rs.rule_id::TEXT, k.id::TEXT, k.name, k.type
		FROM rule_sinks rs JOIN sinks k ON k.id = rs.sink_id
		WHERE rs.rule_id = ANY($1::UUID[])
		ORDER BY rs.rule_id, rs.position`, ids)
	if err != nil {
		return fmt.Errorf("list rule sinks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ruleID string
		var sink RuleSink
		if err := rows.Scan(&ruleID, &sink.ID, &sink.Name, &sink.Type); err != nil {
			return fmt.Errorf("list rule sinks: %w", err)
		}
		i := index[ruleID]
		list[i].Sinks = append(list[i].Sinks, sink)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list rule sinks: %w", err)
	}
	return nil
}

// RuleByName returns the rule called name of a source, or ErrNotFound.
func (s *Store) RuleByName(ctx context.Context, sourceID, name string) (Rule, error) {
	r, err := scanRule(s.q.QueryRow(ctx, `
		SELECT `+ruleColumns+`
		FROM rules r JOIN sources s ON s.id = r.source_id
		WHERE r.source_id = $1 AND r.name = $2`, sourceID, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Rule{}, ErrNotFound
	}
	if err != nil {
		return Rule{}, fmt.Errorf("read rule %q: %w", name, err)
	}
	list := []Rule{r}
	if err := s.attachSinks(ctx, list); err != nil {
		return Rule{}, err
	}
	return list[0], nil
}

// DeleteRule deletes the rule called name of a source. It returns
// ErrNotFound when there is none.
func (s *Store) DeleteRule(ctx context.Context, sourceID, name string) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM rules WHERE source_id = $1 AND name = $2`, sourceID, name)
	if err != nil {
		return fmt.Errorf("delete rule %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// PutRule creates the rule spec names or updates it to spec. An update that
// changes anything bumps the rule's version; changed is false when the stored
// rule already matched spec.
func (s *Store) PutRule(ctx context.Context, spec RuleSpec) (rule Rule, changed bool, err error) {
	existing, err := s.RuleByName(ctx, spec.SourceID, spec.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		return s.createRule(ctx, spec)
	case err != nil:
		return Rule{}, false, err
	}
	if sameRule(existing, spec) {
		return existing, false, nil
	}

	_, err = s.q.Exec(ctx, `
		UPDATE rules SET event_type = $2, condition = $3, fallback = $4, priority = $5,
			enabled = $6, version = version + 1, updated_at = now()
		WHERE id = $1`,
		existing.ID, spec.EventType, nullJSON(spec.Condition), spec.Fallback, spec.Priority, spec.Enabled)
	if err != nil {
		return Rule{}, false, fmt.Errorf("update rule %q: %w", spec.Name, err)
	}
	if err := s.setRuleSinks(ctx, existing.ID, spec.SinkIDs); err != nil {
		return Rule{}, false, err
	}
	rule, err = s.RuleByName(ctx, spec.SourceID, spec.Name)
	return rule, true, err
}

func (s *Store) createRule(ctx context.Context, spec RuleSpec) (Rule, bool, error) {
	var id string
	err := s.q.QueryRow(ctx, `
		INSERT INTO rules (source_id, name, event_type, condition, fallback, priority, enabled)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::TEXT`,
		spec.SourceID, spec.Name, spec.EventType, nullJSON(spec.Condition), spec.Fallback, spec.Priority, spec.Enabled,
	).Scan(&id)
	if err != nil {
		return Rule{}, false, fmt.Errorf("create rule %q: %w", spec.Name, err)
	}
	if err := s.setRuleSinks(ctx, id, spec.SinkIDs); err != nil {
		return Rule{}, false, err
	}
	rule, err := s.RuleByName(ctx, spec.SourceID, spec.Name)
	return rule, true, err
}

func (s *Store) setRuleSinks(ctx context.Context, ruleID string, sinkIDs []string) error {
	if _, err := s.q.Exec(ctx, `DELETE FROM rule_sinks WHERE rule_id = $1`, ruleID); err != nil {
		return fmt.Errorf("replace rule sinks: %w", err)
	}
	for i, sinkID := range sinkIDs {
		_, err := s.q.Exec(ctx,
			`INSERT INTO rule_sinks (rule_id, sink_id, position) VALUES ($1, $2, $3)`, ruleID, sinkID, i)
		if err != nil {
			return fmt.Errorf("replace rule sinks: %w", err)
		}
	}
	return nil
}

func sameRule(r Rule, spec RuleSpec) bool {
	sinkIDs := make([]string, len(r.Sinks))
	for i, k := range r.Sinks {
		sinkIDs[i] = k.ID
	}
	return r.EventType == spec.EventType &&
		r.Fallback == spec.Fallback &&
		r.Priority == spec.Priority &&
		r.Enabled == spec.Enabled &&
		slices.Equal(sinkIDs, spec.SinkIDs) &&
		(len(r.Condition) == 0) == (len(spec.Condition) == 0) &&
		sameJSON(r.Condition, spec.Condition)
}

// nullJSON stores an absent condition as SQL NULL.
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
