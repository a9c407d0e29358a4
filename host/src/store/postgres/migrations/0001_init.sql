-- The whole schema as SQLite's migrations 0001-0004 leave it, in PostgreSQL's types. Later
-- migrations of both backends are numbered apart: each backend records its own version.

-- Entities (teams), their API keys, secrets and integrations.
CREATE TABLE entities (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- The bootstrap entity: its admins operate the instance (they may create entities).
    operator    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    -- SHA-256 of the whole key; the key itself is never stored.
    key_hash    BYTEA NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE secrets (
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    -- ChaCha20-Poly1305 under the master key; the AAD binds it to (entity, name).
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (entity_id, name)
);

CREATE TABLE integrations (
    id          TEXT PRIMARY KEY,
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    url         TEXT NOT NULL,
    access_token_secret TEXT,
    signing_secret      TEXT,
    -- When the URL itself is a credential (Slack and Teams webhook URLs), the secret holding it.
    url_secret  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (entity_id, name)
);

-- Automations: the definition is one JSON document; the columns are what lists filter on.
CREATE TABLE automations (
    id          TEXT PRIMARY KEY,
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
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

-- Events are immutable; an idempotency key maps a retried post to the first one. `seq` is the
-- ingest order (SQLite's rowid): a run's metric samples are replayed in it.
CREATE TABLE events (
    seq             BIGSERIAL NOT NULL,
    id              TEXT PRIMARY KEY,
    entity_id       BIGINT NOT NULL REFERENCES entities(id),
    body            TEXT NOT NULL,
    idempotency_key TEXT,
    matched         BIGINT NOT NULL,
    received_at     TEXT NOT NULL,
    run_project     TEXT,
    run_id          TEXT
);
CREATE UNIQUE INDEX events_by_idempotency_key ON events (entity_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_run_samples ON events (entity_id, run_project, run_id, seq)
    WHERE run_id IS NOT NULL;

-- One triggering of one automation by one event. The automation is snapshotted: editing or
-- deleting it never changes an execution.
CREATE TABLE executions (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events(id),
    entity_id       BIGINT NOT NULL REFERENCES entities(id),
    automation_id   TEXT NOT NULL,
    automation      TEXT NOT NULL,
    payload         TEXT,
    status          TEXT NOT NULL,
    status_reason   TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    trigger         TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX executions_by_automation ON executions (automation_id, created_at);
CREATE INDEX executions_by_event ON executions (event_id);
CREATE INDEX executions_due ON executions (status, next_attempt_at);
CREATE INDEX executions_leases ON executions (lease_until) WHERE status = 'running';

CREATE TABLE attempts (
    execution_id    TEXT NOT NULL REFERENCES executions(id),
    number          BIGINT NOT NULL,
    started_at      TEXT NOT NULL,
    duration_ms     DOUBLE PRECISION NOT NULL,
    record          TEXT NOT NULL,
    PRIMARY KEY (execution_id, number)
);

-- Rate-limit windows shared by every host: admissions of an automation in a fixed window.
CREATE TABLE rate_windows (
    automation_id   TEXT NOT NULL,
    window_start    BIGINT NOT NULL,
    admitted        BIGINT NOT NULL,
    PRIMARY KEY (automation_id, window_start)
);

-- Launch: versioned jobs, named queues, and the items agents claim from them.
CREATE TABLE jobs (
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    spec        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (entity_id, name, version)
);

CREATE TABLE queues (
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (entity_id, name)
);

-- FIFO within priority: higher priority first, then `seq` (enqueue order).
CREATE TABLE queue_items (
    seq          BIGSERIAL NOT NULL,
    id           TEXT PRIMARY KEY,
    entity_id    BIGINT NOT NULL REFERENCES entities(id),
    queue        TEXT NOT NULL,
    job          TEXT NOT NULL,
    job_version  BIGINT NOT NULL,
    config       TEXT NOT NULL,
    project      TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    enqueued_by  TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT,
    exit_code    INTEGER,
    output       TEXT,
    run_token    BYTEA,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX queue_items_ready ON queue_items (entity_id, queue, status, priority DESC, seq);
CREATE INDEX queue_items_by_run ON queue_items (entity_id, run_id);
CREATE INDEX queue_items_by_token ON queue_items (run_token) WHERE run_token IS NOT NULL;
