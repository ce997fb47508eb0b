DROP TABLE IF EXISTS event_dead_letters;
