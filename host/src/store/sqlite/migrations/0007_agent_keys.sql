-- Agent keys: the role `agent`, bound to named queues (a JSON array), which may only claim,
-- heartbeat and finish items of those queues. SQLite cannot change a CHECK constraint in place,
-- so the table is rebuilt.
CREATE TABLE api_keys_v7 (
    id          TEXT PRIMARY KEY,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member', 'agent')),
    -- SHA-256 of the whole key; the key itself is never stored.
    key_hash    BLOB NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    queues      TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO api_keys_v7 (id, entity_id, role, key_hash, label, created_at)
    SELECT id, entity_id, role, key_hash, label, created_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_v7 RENAME TO api_keys;

-- A claim's lease token (SHA-256): heartbeats and finish reports must carry the token, so only
-- the agent that holds the claim can report on it.
ALTER TABLE queue_items ADD COLUMN lease_hash BLOB;

-- The agents that have claimed from an entity's queues: what `GET …/agents` lists. Each claim
-- (and each heartbeat of an item it holds) marks its agent as seen.
CREATE TABLE agents (
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    queues      TEXT NOT NULL,      -- JSON array: its key's queues
    slots       INTEGER NOT NULL,   -- items it runs at once
    last_seen   INTEGER NOT NULL,   -- Unix milliseconds
    PRIMARY KEY (entity_id, name)
);
