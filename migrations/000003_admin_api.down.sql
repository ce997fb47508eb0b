-- Removes the indexes 000003_admin_api.up.sql created.
DROP INDEX audit_log_event_id_idx;
DROP INDEX audit_log_sink_name_time_idx;
DROP INDEX audit_log_rule_time_idx;
DROP INDEX audit_log_time_idx;
