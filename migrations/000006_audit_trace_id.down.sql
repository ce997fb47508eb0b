DROP INDEX IF EXISTS audit_log_trace_idx;

ALTER TABLE audit_log DROP COLUMN IF EXISTS trace_id;
