-- The console's and the API's entity-wide execution history reads an entity's executions newest
-- first; without this index that read sorts the whole table.
CREATE INDEX executions_by_entity ON executions (entity_id, created_at);
