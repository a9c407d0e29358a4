-- Entities (teams), their API keys, secrets and integrations.
CREATE TABLE entities (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- The bootstrap entity: its admins operate the instance (they may create entities).
    operator    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    -- SHA-256 of the whole key; the key itself is never stored.
    key_hash    BLOB NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE secrets (
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    -- ChaCha20-Poly1305 under the master key; the AAD binds it to (entity, name).
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (entity_id, name)
);

CREATE TABLE integrations (
    id          TEXT PRIMARY KEY,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    url         TEXT NOT NULL,
    access_token_secret TEXT,
    signing_secret      TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (entity_id, name)
);

-- Automations: the definition is one JSON document; the columns are what lists filter on.
CREATE TABLE automations (
    id          TEXT PRIMARY KEY,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    project     TEXT,
    collection  TEXT,
    integration TEXT,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (entity_id, name)
);
CREATE INDEX automations_by_integration ON automations (entity_id, integration);

-- Events are immutable; an idempotency key maps a retried post to the first one.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    entity_id       INTEGER NOT NULL REFERENCES entities(id),
    body            TEXT NOT NULL,
    idempotency_key TEXT,
    matched         INTEGER NOT NULL,
    received_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_idempotency_key ON events (entity_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- One triggering of one automation by one event. The automation is snapshotted: editing or
-- deleting it never changes an execution.
CREATE TABLE executions (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events(id),
    entity_id       INTEGER NOT NULL REFERENCES entities(id),
    automation_id   TEXT NOT NULL,
    automation      TEXT NOT NULL,
    payload         TEXT,
    status          TEXT NOT NULL,
    status_reason   TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX executions_by_automation ON executions (automation_id, created_at);
CREATE INDEX executions_by_event ON executions (event_id);
CREATE INDEX executions_due ON executions (status, next_attempt_at);

CREATE TABLE attempts (
    execution_id    TEXT NOT NULL REFERENCES executions(id),
    number          INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    duration_ms     REAL NOT NULL,
    record          TEXT NOT NULL,
    PRIMARY KEY (execution_id, number)
);
