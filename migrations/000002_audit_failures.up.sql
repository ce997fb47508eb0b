-- Serves "which dispatches to sink Y failed in the last hour" from a small
-- index: failures are few beside deliveries, so a partial index holding only
-- the rows that are not delivered answers without reading a sink's
-- deliveries. "What happened to event X" is served by audit_log_event_idx
-- (source, event_id) from the first migration. Only an index is added, which
-- PostgreSQL and CockroachDB both build inside the migration's transaction.

CREATE INDEX audit_log_sink_failures_idx ON audit_log (sink_id, created_at DESC)
    WHERE status <> 'delivered';
