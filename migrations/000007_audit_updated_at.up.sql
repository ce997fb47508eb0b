-- When an audit row's outcome was last replaced. A dead-lettered dispatch
-- takes the outcome of its replay, which may be the same failure again; the
-- time tells an operator that the replay happened and when. NULL while the
-- row holds its first outcome. Adding a nullable column rewrites nothing on
-- PostgreSQL or CockroachDB.

ALTER TABLE audit_log ADD COLUMN updated_at TIMESTAMPTZ;
