-- Live output: agents append a run's output while it runs. `output` keeps the stream's last
-- 64 KiB; `output_bytes` counts the whole stream, so a reader knows how much was cut and where
-- a chunk an agent retries starts.
ALTER TABLE queue_items ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE queue_items SET output_bytes = length(CAST(output AS BLOB)) WHERE output IS NOT NULL;
