-- Run-metric automations. An execution fired by a metric condition keeps what fired it (metric,
-- value compared, window, condition in words) for its variables. A metric sample's run is kept
-- in plain columns (NULL for every other event, so other inserts pay nothing for the index): a
-- run's samples are read back in ingest order to rebuild its windows and cooldowns after a
-- restart, and old samples are purged by time.
ALTER TABLE executions ADD COLUMN trigger TEXT;
ALTER TABLE events ADD COLUMN run_project TEXT;
ALTER TABLE events ADD COLUMN run_id TEXT;
CREATE INDEX events_run_samples ON events (entity_id, run_project, run_id)
    WHERE run_id IS NOT NULL;
