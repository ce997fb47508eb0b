DROP INDEX IF EXISTS audit_log_sink_failures_idx;
