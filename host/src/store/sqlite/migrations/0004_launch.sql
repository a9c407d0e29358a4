-- Launch: versioned jobs, named queues, and the items agents claim from them.
CREATE TABLE jobs (
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    spec        TEXT NOT NULL,   -- the JobSpec as JSON
    created_at  TEXT NOT NULL,
    PRIMARY KEY (entity_id, name, version)
);

CREATE TABLE queues (
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (entity_id, name)
);

-- FIFO within priority: higher priority first, then rowid (enqueue order).
CREATE TABLE queue_items (
    id           TEXT PRIMARY KEY,
    entity_id    INTEGER NOT NULL REFERENCES entities(id),
    queue        TEXT NOT NULL,
    job          TEXT NOT NULL,
    job_version  INTEGER NOT NULL,
    config       TEXT NOT NULL,  -- the merged run config (JSON object)
    project      TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    enqueued_by  TEXT NOT NULL,  -- JSON: {"key": id} or {"automation": id, "execution": id}
    priority     INTEGER NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER,
    exit_code    INTEGER,
    output       TEXT,
    -- SHA-256 of the token the job's process posts its run's events with; valid while claimed
    -- or running.
    run_token    BLOB,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX queue_items_ready ON queue_items (entity_id, queue, status, priority DESC);
CREATE INDEX queue_items_by_run ON queue_items (entity_id, run_id);
