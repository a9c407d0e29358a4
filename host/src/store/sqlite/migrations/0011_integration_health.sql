-- An integration's health: failed attempts in a row, since when its executions have exhausted
-- their retries with no success in between (Unix ms), and whether it is disabled (by hand or
-- after `disable_after`). Its own `disable_after_ms` overrides the host's (0 = never).
ALTER TABLE integrations ADD COLUMN disable_after_ms INTEGER;
ALTER TABLE integrations ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN failing_since_ms INTEGER;
ALTER TABLE integrations ADD COLUMN disabled_at TEXT;
ALTER TABLE integrations ADD COLUMN disabled_reason TEXT;
-- Executions held while their integration is disabled, oldest first: re-enabling it releases them
-- in that order. Partial, so that it costs nothing for every other execution.
CREATE INDEX executions_held ON executions (entity_id, created_at) WHERE status = 'held';
