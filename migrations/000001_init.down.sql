-- Removes everything 000001_init.up.sql created.
DROP TABLE audit_log;
DROP TABLE rule_sinks;
DROP TABLE rules;
DROP TABLE sinks;
DROP TABLE api_keys;
DROP TABLE sources;
