-- Agent keys: the role `agent`, bound to named queues (a JSON array), which may only claim,
-- heartbeat and finish items of those queues.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'member', 'agent'));
ALTER TABLE api_keys ADD COLUMN queues TEXT NOT NULL DEFAULT '[]';

-- A claim's lease token (SHA-256): heartbeats and finish reports must carry the token, so only
-- the agent that holds the claim can report on it.
ALTER TABLE queue_items ADD COLUMN lease_hash BYTEA;

-- The agents that have claimed from an entity's queues: what `GET …/agents` lists. Each claim
-- (and each heartbeat of an item it holds) marks its agent as seen.
CREATE TABLE agents (
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    queues      TEXT NOT NULL,
    slots       BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (entity_id, name)
);
