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
//
// Actions run concurrently on Config.WorkerCount workers, with no ordering
// between them. Sink settings are cached by sink id and reloaded when a
// change is announced on bus.ChangesSubject or an action names an unknown
// sink.
package dispatcher
