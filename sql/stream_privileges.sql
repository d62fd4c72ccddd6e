--
-- stream_privileges: creating a stream needs ownership of its tables,
-- reading needs SELECT on them, emit and drop need the stream's owner.
-- No role sees events of a table it may not SELECT, by any path.
--
CREATE EXTENSION pg_eventstream;
CREATE ROLE es_owner;
CREATE ROLE es_reader;
CREATE ROLE es_stranger;
CREATE SCHEMA owned AUTHORIZATION es_owner;
GRANT USAGE ON SCHEMA eventstream TO es_owner, es_reader, es_stranger;
CREATE TABLE public.not_theirs (id int PRIMARY KEY);
CREATE TABLE owned.accounts (id int PRIMARY KEY, balance int);
ALTER TABLE owned.accounts OWNER TO es_owner;
GRANT USAGE ON SCHEMA owned TO es_reader, es_stranger;

SET ROLE es_owner;
SELECT eventstream.create_stream('theirs', '{public.not_theirs}');
SELECT eventstream.create_stream('any_schema', '{*.accounts}');
SELECT eventstream.create_stream('public_pattern', '{public.*}');
SELECT eventstream.create_stream('accounts', '{owned.accounts}');
SELECT eventstream.create_stream('owned_all', '{owned.*}');
INSERT INTO owned.accounts VALUES (1, 100);
SELECT eventstream.emit('accounts', '{"note": "by the owner"}') IS NOT NULL AS emitted;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT id, op, key, new FROM eventstream.read('accounts');
RESET ROLE;
GRANT SELECT ON owned.accounts TO es_reader;
GRANT CREATE ON SCHEMA owned TO es_reader;

-- a reader with SELECT sees the table's events, not the owner's messages
SET ROLE es_reader;
SELECT id, op, key FROM eventstream.read('accounts');
SELECT eventstream.emit('accounts', '{}');
SELECT eventstream.drop_stream('accounts');
SELECT eventstream.create_stream_view('owned.acc_changes', 'accounts', 'owned.accounts');
SELECT id, op, (new).balance FROM owned.acc_changes;
GRANT SELECT ON owned.acc_changes TO es_stranger;
RESET ROLE;

-- a stranger gets an error from read(), and nothing through the log itself
SET ROLE es_stranger;
SELECT id FROM eventstream.read('accounts');
SELECT count(*) AS visible_events FROM eventstream.event_log;
SELECT count(*) AS visible_pattern_events FROM eventstream.read('owned_all');
SELECT count(*) AS visible_through_view FROM owned.acc_changes;
SELECT eventstream.create_stream_view('stranger_view', 'accounts', 'owned.accounts');
SELECT count(*) FROM eventstream.event_log_1_0;
UPDATE eventstream.stream_catalog SET tables = '{*.*}';
INSERT INTO eventstream.stream_catalog (name, owner, tables, named_tables, operations, segment_size, created_lsn)
  VALUES ('sneaky', 0, '{*.*}', '{}', '{insert}', 10, '0/0');
SELECT eventstream.drop_stream('accounts');
RESET ROLE;

-- the owner drops the stream
SET ROLE es_owner;
SELECT eventstream.drop_stream('accounts');
SELECT eventstream.drop_stream('owned_all');
RESET ROLE;

DROP EXTENSION pg_eventstream CASCADE;
CALL es_wait_worker_gone();
DROP TABLE public.not_theirs;
DROP SCHEMA owned CASCADE;
DROP OWNED BY es_owner, es_reader, es_stranger;
DROP ROLE es_owner, es_reader, es_stranger;
