-- The secrets an integration grants its automations' templates, besides its own credentials: a
-- JSON array of names. NULL until the host that first starts on this schema has granted each
-- integration exactly what its automations already reference (so no working setup breaks).
ALTER TABLE integrations ADD COLUMN granted_secrets TEXT;
