--
-- basic: inserts, updates, deletes, replica identities, keys, TOAST,
-- truncate, transactions and subtransactions.
--
SELECT 'init' FROM pg_create_logical_replication_slot('basic', 'pg_eventstream');

-- REPLICA IDENTITY DEFAULT with a primary key
CREATE TABLE ri_default(id int PRIMARY KEY, name text, qty int);
INSERT INTO ri_default VALUES (1, 'a', 10), (2, 'b', NULL);
UPDATE ri_default SET qty = 11 WHERE id = 1;
UPDATE ri_default SET id = 3 WHERE id = 2;        -- key change: old key shown
DELETE FROM ri_default WHERE id = 1;              -- only the key is in the WAL
SELECT * FROM es_changes('basic');

-- REPLICA IDENTITY FULL: the whole old row, key from the primary key
CREATE TABLE ri_full(id int PRIMARY KEY, name text);
ALTER TABLE ri_full REPLICA IDENTITY FULL;
INSERT INTO ri_full VALUES (1, 'a');
UPDATE ri_full SET name = 'b';
DELETE FROM ri_full;
SELECT * FROM es_changes('basic');

-- REPLICA IDENTITY FULL without a primary key: no key, old row present
CREATE TABLE ri_full_nokey(a int, b text);
ALTER TABLE ri_full_nokey REPLICA IDENTITY FULL;
INSERT INTO ri_full_nokey VALUES (1, 'x');
DELETE FROM ri_full_nokey;
SELECT * FROM es_changes('basic');

-- REPLICA IDENTITY USING INDEX: the key is the index's columns
CREATE TABLE ri_index(id int PRIMARY KEY, code text NOT NULL, v int);
CREATE UNIQUE INDEX ri_index_code ON ri_index(code);
ALTER TABLE ri_index REPLICA IDENTITY USING INDEX ri_index_code;
INSERT INTO ri_index VALUES (1, 'c1', 5);
UPDATE ri_index SET v = 6;
UPDATE ri_index SET code = 'c2';
DELETE FROM ri_index;
SELECT * FROM es_changes('basic');

-- REPLICA IDENTITY NOTHING, and a table without a primary key: no key
CREATE TABLE ri_nothing(id int PRIMARY KEY, v int);
ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE no_pk(v int);
INSERT INTO ri_nothing VALUES (1, 1);
UPDATE ri_nothing SET v = 2;
INSERT INTO no_pk VALUES (7);
SELECT * FROM es_changes('basic');

-- an unchanged TOASTed column is named, never silently dropped
CREATE TABLE toasted(id int PRIMARY KEY, small text, big text);
ALTER TABLE toasted ALTER big SET STORAGE EXTERNAL;
INSERT INTO toasted VALUES (1, 's', repeat('x', 9000));
UPDATE toasted SET small = 't';
UPDATE toasted SET big = 'short now';
SELECT data::jsonb - 'new' || jsonb_build_object('new_big_length', length(data::jsonb->'new'->>'big'))
  FROM es_changes('basic') AS data;

-- truncate: one event per table, options reported
CREATE TABLE tr_parent(id int PRIMARY KEY);
CREATE TABLE tr_child(id int PRIMARY KEY, p int REFERENCES tr_parent);
CREATE TABLE tr_other(id serial PRIMARY KEY);
INSERT INTO tr_parent VALUES (1);
INSERT INTO tr_child VALUES (1, 1);
INSERT INTO tr_other DEFAULT VALUES;
TRUNCATE tr_other RESTART IDENTITY;
TRUNCATE tr_parent CASCADE;
SELECT * FROM es_changes('basic', 'operations', 'truncate');

-- transactions: seq numbers the events of a transaction; begin/commit
-- events with event_count; empty transactions skipped by default
BEGIN;
INSERT INTO ri_default VALUES (10, 'x', 1);
INSERT INTO ri_default VALUES (11, 'y', 2);
UPDATE ri_default SET qty = 3 WHERE id = 10;
COMMIT;
BEGIN;
INSERT INTO no_pk VALUES (1);
COMMIT;
SELECT * FROM es_peek('basic', 'include-transaction', '1', 'tables', 'public.ri_default');
SELECT * FROM es_changes('basic', 'include-transaction', '1', 'skip-empty-xacts', '0', 'tables', 'public.ri_default');

-- subtransactions: rolled-back savepoints never appear; seq stays dense
BEGIN;
INSERT INTO ri_default VALUES (20, 's1', 1);
SAVEPOINT a;
INSERT INTO ri_default VALUES (21, 'rolled back', 1);
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
INSERT INTO ri_default VALUES (22, 's2', 1);
RELEASE SAVEPOINT b;
INSERT INTO ri_default VALUES (23, 's3', 1);
COMMIT;
-- a rolled-back transaction never appears
BEGIN;
INSERT INTO ri_default VALUES (30, 'aborted', 1);
ROLLBACK;
SELECT * FROM es_changes('basic', 'include-transaction', '1');

-- include-changed-columns: only where the old row is known
CREATE TABLE changed(id int PRIMARY KEY, a int, b text, c jsonb);
ALTER TABLE changed REPLICA IDENTITY FULL;
INSERT INTO changed VALUES (1, 1, 'x', '{"k":1}');
UPDATE changed SET a = 2, c = '{"k":1}';
UPDATE changed SET b = NULL;
SELECT * FROM es_changes('basic', 'include-changed-columns', '1');

SELECT pg_drop_replication_slot('basic');
