-- Indexes for the admin API's audit listing. It pages through audit_log
-- newest first by (created_at, dispatch_id), optionally filtered by event id,
-- rule name or sink name; without these, each page would sort the whole
-- table. A time-leading index concentrates writes on one range in
-- CockroachDB; the audit log is written in batches, so that is acceptable
-- here, and it is the price of listing by time at all.
CREATE INDEX audit_log_time_idx ON audit_log (created_at, dispatch_id);
CREATE INDEX audit_log_rule_time_idx ON audit_log (rule_name, created_at);
CREATE INDEX audit_log_sink_name_time_idx ON audit_log (sink_name, created_at);
CREATE INDEX audit_log_event_id_idx ON audit_log (event_id);
