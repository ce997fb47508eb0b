// Package action defines the message the rule-engine publishes for each sink
// of each matched rule, and the dispatcher delivers.
package action

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/zenith-hq/zenith/pkg/event"
)

// Action asks the dispatcher to deliver one event to one sink because one
// rule matched it. It is JSON on the wire.
type Action struct {
	// DispatchID identifies this delivery: the same event, rule and sink
	// always give the same id. It is the action's NATS message id, the audit
	// row's key and the webhook-id a receiver sees, so that every repeat of
	// the delivery is recognisable as one.
	DispatchID string      `json:"dispatch_id"`
	Event      event.Event `json:"event"`
	Rule       RuleRef     `json:"rule"`
	Sink       SinkRef     `json:"sink"`
	// AcceptedAt is when JetStream stored the event; the dispatcher measures
	// end-to-end latency from it.
	AcceptedAt time.Time `json:"accepted_at"`
	// MatchedAt is when the rule-engine matched the event.
	MatchedAt time.Time `json:"matched_at"`
}

// Headers of action messages, beside the trace context. The dispatcher sets
// the dead-letter ones on each action it copies to the dead-letter stream;
// the admin API reads them, and sets ReplayHeader on an action it replays.
// The rule-engine sets the reason and attempts (its deliveries) on each
// event it dead-letters.
const (
	// DeadLetterReasonHeader says why the action was dead-lettered.
	DeadLetterReasonHeader = "Zenith-Dead-Letter-Reason"
	// DeadLetterAttemptsHeader is how many times the sink was tried.
	DeadLetterAttemptsHeader = "Zenith-Attempts"
	// DeadLetterStatusHeader is the sink's last answer, when it gave one.
	DeadLetterStatusHeader = "Zenith-Status-Code"
	// ReplayHeader marks an action replayed from the dead-letter stream; its
	// value is the dead letter's sequence there. A dispatcher delivers a
	// replayed action even though its dispatch already has an audit row, as
	// long as that row says dead_lettered.
	ReplayHeader = "Zenith-Replay"
)

// RuleRef names the rule that matched, at the version that matched.
type RuleRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

// SinkRef names the sink to deliver to. The sink's settings, some of them
// secret, are not in the message: the dispatcher looks them up by ID.
type SinkRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// DispatchID returns the id of the delivery of the event (source, eventID)
// to sinkID for ruleID. It is a hash so that it has a fixed length and holds
// only characters safe in a header, whatever the event id is made of.
func DispatchID(source, eventID, ruleID, sinkID string) string {
	h := sha256.New()
	for _, part := range []string{source, eventID, ruleID, sinkID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Decode reads an action from its JSON form and checks that it is complete.
func Decode(b []byte) (Action, error) {
	var a Action
	if err := json.Unmarshal(b, &a); err != nil {
		return Action{}, fmt.Errorf("decode action: %w", err)
	}
	switch {
	case a.DispatchID == "":
		return Action{}, fmt.Errorf("decode action: dispatch_id is missing")
	case a.Rule.ID == "":
		return Action{}, fmt.Errorf("decode action: rule.id is missing")
	case a.Sink.ID == "" || a.Sink.Type == "":
		return Action{}, fmt.Errorf("decode action: sink id or type is missing")
	}
	return a, nil
}
