--
-- schema_changes: decoding across DDL.  Each change is written with the
-- columns its relation had when the change was made; include-schema
-- announces a relation again after its columns change, and not otherwise.
--
SELECT 'init' FROM pg_create_logical_replication_slot('ddl', 'pg_eventstream');
CREATE TABLE evolving(id int PRIMARY KEY, a text);
INSERT INTO evolving VALUES (1, 'one');
ALTER TABLE evolving ADD COLUMN b int DEFAULT 7;
INSERT INTO evolving VALUES (2, 'two', 2);
ALTER TABLE evolving DROP COLUMN a;
INSERT INTO evolving VALUES (3, 3);
ALTER TABLE evolving ALTER COLUMN b TYPE text;
UPDATE evolving SET b = 'three' WHERE id = 3;
ANALYZE evolving;                       -- an invalidation without a change
CREATE INDEX ON evolving(b);
INSERT INTO evolving VALUES (4, 'four');
ALTER TABLE evolving RENAME TO evolved;
INSERT INTO evolved VALUES (5, 'five');
ALTER TABLE evolved REPLICA IDENTITY FULL;
DELETE FROM evolved WHERE id = 5;
CREATE SCHEMA s1;
ALTER TABLE evolved SET SCHEMA s1;
INSERT INTO s1.evolved VALUES (6, 'six');
ALTER SCHEMA s1 RENAME TO s2;
INSERT INTO s2.evolved VALUES (7, 'seven');
SELECT * FROM es_changes('ddl', 'include-schema', '1');
SELECT pg_drop_replication_slot('ddl');
