-- The audit log: who changed what in an entity's configuration, when, and the changed thing's
-- non-secret fields before and after. Ids are UUIDv7s, so id order is time order.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    entity_id   BIGINT NOT NULL REFERENCES entities(id),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    before      TEXT,
    after       TEXT
);
CREATE INDEX audit_log_by_entity ON audit_log (entity_id, id);
CREATE INDEX audit_log_by_target ON audit_log (entity_id, target_kind, target, id);
