// Package dispatcher is Zenith's last tier: it consumes the actions the
// rule-engine publishes on the ZENITH_ACTIONS stream and delivers each to its
// sink, recording one audit row per dispatch.
//
// Build a Service with New and call Run; cmd/dispatcher does so from the
// environment (see Config).
//
// Delivery is at least once, with duplicates kept rare and recognisable:
//
//   - An action is acknowledged only after its audit row is committed. A
//     redelivered action whose row exists is acknowledged without being
//     delivered again, and a second copy of a dispatch arriving while the
//     first is held waits until the first is recorded.
//   - One delivery makes a few attempts with exponential backoff and jitter
//     (Config.RetryAttempts). When they all fail with a retryable error the
//     action goes back to JetStream with a growing delay, so a down endpoint
//     never holds a worker. On a final error, or on the MaxDeliver-th
//     delivery, the action is copied to the dead-letter stream with the
//     reason and recorded as dead_lettered.
//   - Every attempt carries the dispatch id in the webhook-id header, so a
//     receiver can drop the repeats that remain (a response lost after the
//     receiver acted on the request).
//   - Each sink has a delivery policy (sinkconf.Policy: attempts, age,
//     retryable statuses), a circuit breaker and a rate limit; actions it
//     cannot take now go back to JetStream without a call.
//   - A batching sink (the S3 archive, a Batcher) acknowledges an action
//     only once the object holding it is written.
//   - Every connection a sink makes is checked by the egress guard after
//     name resolution (see NewSinkClient and Config.EgressAllow).
//
// Each sink's actions run in a lane of their own (a bulkhead), at most the
// sink's concurrency at once, with no ordering between them; a sink that
// hangs fills only its lane. Sinks are cached by sink id and reloaded when a
// change is announced on bus.ChangesSubject or an action names an unknown
// sink; a sink whose settings did not change keeps its breaker and batches.
// The sink types are in NewRegistry; docs/sinks.md describes them.
package dispatcher
