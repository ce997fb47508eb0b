-- Events the rule-engine gave up on: a poison event that failed every one of
-- its ENGINE_MAX_DELIVER deliveries (its actions could never be stored, or
-- evaluating it kept failing), or one that was delivered again and again
-- without ever being settled. Each row says why, beside the event's copy in
-- the ZENITH_DLQ stream (subject zenith.dlq.events.<reason>, sequence
-- dlq_sequence), so that an operator finds it with a query and can publish it
-- again. An event dead-lettered twice keeps one row, with the last reason.

CREATE TABLE event_dead_letters (
    source       TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    reason       TEXT NOT NULL,
    deliveries   INTEGER NOT NULL,
    dlq_sequence BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

CREATE INDEX event_dead_letters_time_idx ON event_dead_letters (created_at);
