package rules

import (
	"strings"

	"github.com/zenith-hq/zenith/pkg/event"
)

// typeFilter is a rule's event type filter, ready to test: every type, one
// type, or every type under a prefix.
type typeFilter struct {
	exact  string
	prefix string // with its final dot, e.g. "order."
}

// ValidateEventType checks a rule's event type filter: empty (every type),
// an event type such as "order.created", or a prefix such as "order.*",
// which matches "order.created" and "order.item.added" but not "order"
// itself. path names the filter in the error, a *ValidationError.
func ValidateEventType(filter, path string) error {
	_, err := parseTypeFilter(filter, path)
	return err
}

func parseTypeFilter(filter, path string) (typeFilter, error) {
	if filter == "" {
		return typeFilter{}, nil
	}
	if base, ok := strings.CutSuffix(filter, ".*"); ok {
		if !event.ValidType(base) {
			return typeFilter{}, invalid(path, `prefix filter %q must be an event type followed by ".*"`, filter)
		}
		return typeFilter{prefix: base + "."}, nil
	}
	if !event.ValidType(filter) {
		return typeFilter{}, invalid(path, `%q must be an event type (dot-separated words of letters, digits, '-' or '_') or a prefix such as "order.*"`, filter)
	}
	return typeFilter{exact: filter}, nil
}

// matches reports whether an event of eventType passes the filter.
func (f *typeFilter) matches(eventType string) bool {
	switch {
	case f.exact != "":
		return eventType == f.exact
	case f.prefix != "":
		return strings.HasPrefix(eventType, f.prefix) && len(eventType) > len(f.prefix)
	default:
		return true
	}
}

// String returns the filter as written.
func (f *typeFilter) String() string {
	if f.prefix != "" {
		return f.prefix + "*"
	}
	return f.exact
}
