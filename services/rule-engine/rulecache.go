package ruleengine

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/store"
)

// reloadTimeout bounds one read of the rules from the database.
const reloadTimeout = 10 * time.Second

// ruleCache holds the compiled rules of every source. Readers get an
// immutable snapshot; a reload builds a new one and swaps it in whole, so
// readers never lock and never see half a reload.
type ruleCache struct {
	sets atomic.Pointer[map[string]*rules.Set]
}

// forSource returns the rules of source, or nil when it has none.
func (c *ruleCache) forSource(source string) *rules.Set {
	sets := c.sets.Load()
	if sets == nil {
		return nil
	}
	return (*sets)[source]
}

// reload replaces the cache with the enabled rules now in st. On error the
// previous rules stay in place.
func (c *ruleCache) reload(ctx context.Context, st *store.Store, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()

	stored, err := st.ListRules(ctx, true)
	if err != nil {
		metrics.RuleSetReloads.WithLabelValues("error").Inc()
		return fmt.Errorf("reload rules: %w", err)
	}
	sets, count, err := compileSets(ctx, stored, log)
	if err != nil {
		metrics.RuleSetReloads.WithLabelValues("error").Inc()
		return fmt.Errorf("reload rules: %w", err)
	}

	c.sets.Store(&sets)
	metrics.RuleSetRules.Set(float64(count))
	metrics.RuleCacheVersion.Set(rulesVersion(stored))
	metrics.RuleCacheLoaded.SetToCurrentTime()
	metrics.RuleSetReloads.WithLabelValues("ok").Inc()
	log.DebugContext(ctx, "rules loaded", "rules", count, "sources", len(sets))
	return nil
}

// compileSets groups stored rules by source and compiles each group. A rule
// that does not compile is logged and left out, so that one bad rule does not
// silence the others of its source. It returns the sets and the number of
// rules they hold.
func compileSets(ctx context.Context, stored []store.Rule, log *slog.Logger) (map[string]*rules.Set, int, error) {
	bySource := map[string][]rules.Rule{}
	for _, sr := range stored {
		r, err := compilableRule(sr)
		if err != nil {
			log.ErrorContext(ctx, "rule skipped: its condition is invalid",
				"source", sr.SourceName, "rule_id", sr.ID, "rule", sr.Name, "err", err)
			continue
		}
		bySource[sr.SourceName] = append(bySource[sr.SourceName], r)
	}

	sets := make(map[string]*rules.Set, len(bySource))
	count := 0
	for source, list := range bySource {
		set, err := rules.NewSet(list)
		if err != nil {
			return nil, 0, fmt.Errorf("compile rules of source %q: %w", source, err)
		}
		sets[source] = set
		count += set.Len()
	}
	return sets, count, nil
}

// compilableRule converts a stored rule and checks it as saving it does,
// one rule at a time, because rules.NewSet refuses a whole set for one bad
// rule.
func compilableRule(sr store.Rule) (rules.Rule, error) {
	r, err := toRule(sr)
	if err != nil {
		return rules.Rule{}, err
	}
	if err := rules.ValidateEventType(r.EventType, "event_type"); err != nil {
		return rules.Rule{}, err
	}
	return r, nil
}

// toRule converts a stored rule to the form pkg/rules evaluates.
func toRule(sr store.Rule) (rules.Rule, error) {
	r := rules.Rule{
		ID:        sr.ID,
		Name:      sr.Name,
		Version:   sr.Version,
		EventType: sr.EventType,
		Fallback:  sr.Fallback,
		Priority:  sr.Priority,
		Sinks:     make([]action.SinkRef, len(sr.Sinks)),
	}
	for i, k := range sr.Sinks {
		r.Sinks[i] = action.SinkRef{ID: k.ID, Name: k.Name, Type: k.Type}
	}
	if len(sr.Condition) > 0 && string(sr.Condition) != "null" {
		cond, err := rules.ParseCondition(sr.Condition, "condition")
		if err != nil {
			return rules.Rule{}, err
		}
		r.Condition = cond
	}
	return r, nil
}
