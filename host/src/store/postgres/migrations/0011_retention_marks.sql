-- How far each retention purge that goes by id has got (attempt bodies: the last execution id
-- whose attempts' bodies were dropped), so a batch never looks at what an earlier one finished.
CREATE TABLE retention_marks (
    name TEXT PRIMARY KEY,
    mark TEXT NOT NULL
);
INSERT INTO retention_marks (name, mark) VALUES ('attempt_bodies', '');
