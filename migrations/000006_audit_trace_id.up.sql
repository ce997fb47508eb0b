-- The trace id of each dispatch, so that an operator goes from an audit row
-- (zenithctl audit --event-id ...) to the event's trace: the dispatcher
-- writes the id of the trace its delivery span belongs to, which the event
-- carried from the producer's request through NATS. NULL for rows written
-- before, and for a dispatch without trace context. Adding a nullable
-- column rewrites nothing on PostgreSQL or CockroachDB. An index makes the
-- lookup by trace id cheap.

ALTER TABLE audit_log ADD COLUMN trace_id TEXT;

CREATE INDEX audit_log_trace_idx ON audit_log (trace_id) WHERE trace_id IS NOT NULL;
