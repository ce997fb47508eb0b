ALTER TABLE event_dead_letters DROP COLUMN IF EXISTS replayed_at;
