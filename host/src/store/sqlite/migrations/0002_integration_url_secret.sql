-- An integration's URL may itself be a credential (Slack and Teams webhook URLs): then it lives in
-- a secret named here, and `url` is empty.
ALTER TABLE integrations ADD COLUMN url_secret TEXT;
