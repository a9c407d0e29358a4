-- Plugins installed through the API (digest and component NULL once removed).
CREATE TABLE installed_plugins (
    name        TEXT PRIMARY KEY,
    digest      TEXT,
    component   BYTEA,
    updated_at  TEXT NOT NULL
);
