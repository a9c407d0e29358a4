-- Run liveness: each run reported outside launch, with when it last sent anything (a sample, a
-- state, a heartbeat). A running run silent for `[runs] crash_after` is reported FAILED
-- (`crashed`) by whichever host claims it first (`reported_at`).
CREATE TABLE run_liveness (
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    project     TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    run_name    TEXT,
    state       TEXT NOT NULL CHECK (state IN ('running', 'ended')),
    last_seen   BIGINT NOT NULL,
    reported_at BIGINT,
    PRIMARY KEY (entity_id, project, run_id)
);
CREATE INDEX run_liveness_running ON run_liveness (last_seen) WHERE state = 'running';
