-- When a dead-lettered event was replayed through the admin API: the replay
-- republishes the event for the rule-engines, and the dead letter stays in
-- the ZENITH_DLQ stream until it ages out, so the row marks it replayed
-- rather than removing anything. NULL while it waits. A dead letter of the
-- same event recorded later (the replay failed again) resets it, with the
-- row's new dlq_sequence.

ALTER TABLE event_dead_letters ADD COLUMN replayed_at TIMESTAMPTZ;
