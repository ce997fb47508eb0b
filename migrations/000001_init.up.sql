-- Zenith's first schema: sources and their API keys, sinks, rules and the
-- sinks each rule acts on, and the audit log with one row per dispatch
-- outcome. Only new tables are created, so CockroachDB runs the whole file in
-- one transaction as PostgreSQL does.

CREATE TABLE sources (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An API key is found by its public id, which is part of the key (or, for a
-- key given as any string, derived from it); only a bcrypt hash of the
-- secret is stored.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    source_id    UUID NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    hash         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE INDEX api_keys_source_idx ON api_keys (source_id);

-- A sink is a destination; config holds its type-specific settings.
CREATE TABLE sinks (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name       TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    config     JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A rule of a source. condition is NULL for a rule that matches every event
-- of its type; a fallback rule fires only when no other rule of its source
-- matched. version grows on every change and is recorded with each dispatch.
CREATE TABLE rules (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    source_id  UUID NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    event_type TEXT NOT NULL DEFAULT '',
    condition  JSONB,
    fallback   BOOLEAN NOT NULL DEFAULT false,
    priority   INTEGER NOT NULL DEFAULT 0,
    enabled    BOOLEAN NOT NULL DEFAULT true,
    version    BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (source_id, name)
);

CREATE TABLE rule_sinks (
    rule_id  UUID NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    sink_id  UUID NOT NULL REFERENCES sinks (id),
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, sink_id)
);

CREATE INDEX rule_sinks_sink_idx ON rule_sinks (sink_id);

-- One row per dispatch outcome. dispatch_id is a hash of event, rule and
-- sink, so a redelivered action finds its row already there, and the random
-- key spreads writes across CockroachDB ranges. Rules and sinks are named but
-- not referenced: the audit trail outlives them.
CREATE TABLE audit_log (
    dispatch_id  TEXT PRIMARY KEY,
    event_id     TEXT NOT NULL,
    source       TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    rule_id      UUID NOT NULL,
    rule_name    TEXT NOT NULL,
    rule_version BIGINT NOT NULL,
    sink_id      UUID NOT NULL,
    sink_name    TEXT NOT NULL,
    sink_type    TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    http_status  INTEGER,
    latency_us   BIGINT NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    event_time   TIMESTAMPTZ NOT NULL,
    matched_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_event_idx ON audit_log (source, event_id);
CREATE INDEX audit_log_sink_time_idx ON audit_log (sink_id, created_at);
