-- Background tasks (recovers, bulk retries): their selection, how far they got, and the lease of
-- the host running them.
CREATE TABLE tasks (
    id              TEXT PRIMARY KEY,
    entity_id       INTEGER NOT NULL REFERENCES entities(id),
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    request         TEXT NOT NULL,
    selection       TEXT NOT NULL,
    -- The last execution id looked at: the window is a range of ids (UUIDv7, ordered by time).
    cursor          TEXT NOT NULL,
    scanned         INTEGER NOT NULL DEFAULT 0,
    requeued        INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created_by      TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE UNIQUE INDEX tasks_by_idempotency_key ON tasks (entity_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_by_entity ON tasks (entity_id, created_at);
CREATE INDEX tasks_running ON tasks (lease_until) WHERE status = 'running';
