ALTER TABLE audit_log DROP COLUMN IF EXISTS updated_at;
