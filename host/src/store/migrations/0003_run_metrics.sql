-- Run-metric automations. An execution fired by a metric condition keeps what fired it (metric,
-- value compared, window, condition in words) for its variables; a run's stored samples are read
-- back in ingest order to rebuild its windows and cooldowns after a restart.
ALTER TABLE executions ADD COLUMN trigger TEXT;
CREATE INDEX events_run_samples
    ON events (entity_id, json_extract(body, '$.project'), json_extract(body, '$.run_id'))
    WHERE json_extract(body, '$.type') = 'RUN_METRIC';
