// Package ruleengine is Zenith's middle tier: it takes events from the
// ZENITH_EVENTS stream, evaluates them against their source's rules and
// publishes one action per matched rule and sink on ZENITH_ACTIONS, where the
// dispatcher picks them up.
//
// Usage: build a Config (ConfigFromEnv in main), call New, which connects to
// NATS and the database and fails early, then Run until its context ends.
//
// Delivery guarantees: an event is acknowledged only after JetStream stored
// every one of its actions, so a crash or a failed publish means the event is
// evaluated again. Each action carries a message id derived from the event,
// the rule and the sink (action.DispatchID), so JetStream drops the actions a
// second evaluation publishes again within its duplicate window. A malformed
// event is terminated at once: retrying it cannot help.
//
// Concurrency: one goroutine pulls messages from a durable consumer and hands
// them to WorkerCount workers through a buffered channel; events are not
// processed in order. Rules live in memory as an immutable snapshot behind an
// atomic pointer, replaced whole when the database changes, so evaluation
// takes no lock and never waits for the database.
package ruleengine
