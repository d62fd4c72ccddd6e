--
-- envelope: the edges of an event -- keys stored out of line, array
-- bounds, message content, where schema events go, CloudEvents ids,
-- sources and subjects, values too large for one event, and the
-- extension's own writes.
--
CREATE EXTENSION pg_eventstream;
SELECT 'init' FROM pg_create_logical_replication_slot('env', 'pg_eventstream');

-- 1. A key stored out of line and unchanged by an update: the WAL carries
-- the old key, and the event's key is the value, never a placeholder
CREATE TABLE env_tk (k text PRIMARY KEY, v int);
ALTER TABLE env_tk ALTER k SET STORAGE EXTERNAL;
CREATE TABLE env_ti (a text NOT NULL, b int NOT NULL, v int);
CREATE UNIQUE INDEX env_ti_ab ON env_ti (a, b);
ALTER TABLE env_ti REPLICA IDENTITY USING INDEX env_ti_ab;
ALTER TABLE env_ti ALTER a SET STORAGE EXTERNAL;
SELECT eventstream.create_stream('env_keys', '{public.env_tk}');
INSERT INTO env_tk VALUES (repeat('k', 2500), 1);
INSERT INTO env_ti VALUES (repeat('a', 2300), 7, 1);
SELECT count(*) FROM es_changes('env');
UPDATE env_tk SET v = 2;
UPDATE env_ti SET v = 2;
SELECT e->>'table' AS "table", e->'key' = jsonb_build_object('k', repeat('k', 2500)) AS tk_key,
       e->'key' = jsonb_build_object('a', repeat('a', 2300), 'b', 7) AS ti_key,
       e->'new' ? 'k' OR e->'new' ? 'a' AS key_in_new, e->'unchanged_toast' AS toast
  FROM es_changes('env') d, LATERAL (SELECT d::jsonb) x(e);
-- CloudEvents: partitionkey is the key as it was, the old key of a key change
UPDATE env_tk SET v = 3;
UPDATE env_tk SET k = 'new key';
SELECT e->'data'->>'op' AS op,
       (e->>'partitionkey')::jsonb = jsonb_build_object('k', repeat('k', 2500)) AS old_key
  FROM es_changes('env', 'format', 'cloudevents') d, LATERAL (SELECT d::jsonb) x(e);
-- the event log's key, which consumer partitions hash, is the value too
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT op, key = jsonb_build_object('k', repeat('k', 2500)) AS long_key, key->>'k' = 'new key' AS new_key
  FROM eventstream.read('env_keys');

-- 2. Arrays whose lower bounds are not 1 keep them, in the text form
-- (whatever the session's settings); others are JSON arrays
CREATE TABLE env_arr (id int PRIMARY KEY, a int[], b int[], t timestamptz[], m int[][]);
SET TimeZone = 'America/Los_Angeles';
SET DateStyle = 'SQL, DMY';
INSERT INTO env_arr VALUES (1, '[0:2]={10,20,30}', '{10,20,30}',
	'[-1:0]={"2026-11-24 08:49:33+00","2026-11-25 00:00:00+00"}', '[2:3][1:1]={{1},{2}}');
RESET TimeZone;
RESET DateStyle;
SELECT * FROM es_changes('env');

-- 3. Message content: JSON is embedded, text says so, bytes are base64
SELECT 'm' FROM pg_logical_emit_message(true, 'm', '"a JSON string"');
SELECT 'm' FROM pg_logical_emit_message(true, 'm', 'a JSON string');
SELECT 'm' FROM pg_logical_emit_message(true, 'm', '\x00ff'::bytea);
SELECT * FROM es_changes('env');

-- 4. Schema events are inside their transaction's block, before the
-- change they describe
CREATE TABLE env_s (id int PRIMARY KEY);
INSERT INTO env_s VALUES (1);
SELECT e->>'op' AS op, e->>'table' AS "table"
  FROM es_changes('env', 'include-transaction', '1', 'include-schema', '1',
                  'tables', 'public.env_s') d, LATERAL (SELECT d::jsonb) x(e);
-- and in a streamed block, after stream_start
SELECT 'init' FROM pg_create_logical_replication_slot('env_stream', 'pg_eventstream');
ALTER TABLE env_s ADD COLUMN pad text;
INSERT INTO env_s SELECT g, repeat('p', 100) FROM generate_series(2, 2000) g;
SELECT n, e->>'op' AS op
  FROM (SELECT d::jsonb AS e, row_number() OVER () AS n
          FROM es_changes('env_stream', 'stream-changes', '1', 'include-schema', '1',
                          'tables', 'public.env_s') d) x
 WHERE n <= 3 ORDER BY n;
SELECT pg_drop_replication_slot('env_stream');
SELECT count(*) > 0 AS drained FROM es_changes('env');

-- 4b. JSON null and SQL NULL: both are null in the row, and the JSON nulls
-- are named (json_null for new, old_json_null for old)
CREATE TABLE env_jn (id int PRIMARY KEY, j json, jb jsonb);
ALTER TABLE env_jn REPLICA IDENTITY FULL;
INSERT INTO env_jn VALUES (1, ' null ', 'null'), (2, NULL, NULL), (3, '"null"', '{"a": null}');
UPDATE env_jn SET jb = NULL WHERE id = 1;
SELECT * FROM es_changes('env', 'tables', 'public.env_jn');

-- 5. CloudEvents: ids unique and stable, sources URI-references, no empty
-- subject.  ce_errors checks an event against the spec's rules (v1.0):
-- required attributes, non-empty strings, a URI-reference source, an
-- RFC 3339 time, attribute names of lower-case letters and digits.
CREATE DATABASE "ce db#1";
\set regress_db :DBNAME
\c "ce db#1"
CREATE FUNCTION ce_errors(e jsonb) RETURNS text[] LANGUAGE sql AS $$
  SELECT array_remove(ARRAY[
    CASE WHEN e->>'specversion' IS DISTINCT FROM '1.0' THEN 'specversion' END,
    CASE WHEN jsonb_typeof(e->'id') <> 'string' OR e->>'id' = '' THEN 'id' END,
    CASE WHEN jsonb_typeof(e->'type') <> 'string' OR e->>'type' = '' THEN 'type' END,
    CASE WHEN jsonb_typeof(e->'source') <> 'string'
           OR e->>'source' !~ '^([A-Za-z0-9._~!$&''()*+,;=:@/?#\[\]-]|%[0-9A-Fa-f]{2})+$'
         THEN 'source' END,
    CASE WHEN e ? 'subject' AND (jsonb_typeof(e->'subject') <> 'string' OR e->>'subject' = '')
         THEN 'subject' END,
    CASE WHEN e ? 'time' AND e->>'time' !~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$'
         THEN 'time' END,
    CASE WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(e) k
                      WHERE k <> 'data' AND k !~ '^[a-z0-9]{1,20}$') THEN 'attribute name' END],
    NULL)
$$;
SELECT 'init' FROM pg_create_logical_replication_slot('ce', 'pg_eventstream');
CREATE TABLE ce_t (id int PRIMARY KEY, v text);
BEGIN;
INSERT INTO ce_t SELECT g, 'v' FROM generate_series(1, 300) g;
SELECT 'm' FROM pg_logical_emit_message(true, '', 'no prefix');
SELECT 'm' FROM pg_logical_emit_message(false, 'nt', 'not transactional');
UPDATE ce_t SET v = 'w' WHERE id <= 3;
COMMIT;
ALTER TABLE ce_t ADD COLUMN w int;
INSERT INTO ce_t VALUES (1000, 'x', 1);
-- every event valid, every id distinct, whatever logical_decoding_work_mem is
CREATE TEMP TABLE ce_small AS
  SELECT data::jsonb AS e FROM pg_logical_slot_peek_changes('ce', NULL, NULL, 'format', 'cloudevents',
    'include-transaction', '1', 'include-schema', '1') d;
SET logical_decoding_work_mem = '1GB';
CREATE TEMP TABLE ce_large AS
  SELECT data::jsonb AS e FROM pg_logical_slot_get_changes('ce', NULL, NULL, 'format', 'cloudevents',
    'include-transaction', '1', 'include-schema', '1') d;
RESET logical_decoding_work_mem;
SELECT count(*) AS events, count(DISTINCT e->>'id') AS ids,
       count(*) FILTER (WHERE ce_errors(e) <> '{}') AS invalid,
       min(e->>'source') AS source, count(*) FILTER (WHERE NOT e ? 'subject') AS without_subject
  FROM ce_small;
SELECT e->>'type' AS type, ce_errors(e) FROM ce_small WHERE ce_errors(e) <> '{}';
SELECT (SELECT array_agg(e->>'id' ORDER BY e->>'id') FROM ce_small) =
       (SELECT array_agg(e->>'id' ORDER BY e->>'id') FROM ce_large) AS same_ids;
SELECT e->>'type' AS type, e->'subject' AS subject, e->'data'->'content' AS content
  FROM ce_small WHERE e->>'type' = 'eventstream.message';
-- a source that is not a URI-reference, and streamed changes, are refused
SELECT count(*) FROM pg_logical_slot_peek_changes('ce', NULL, NULL, 'format', 'cloudevents',
  'source', 'my db');
SELECT count(*) FROM pg_logical_slot_peek_changes('ce', NULL, NULL, 'format', 'cloudevents',
  'source', '/db/100%');
SELECT count(*) FROM pg_logical_slot_peek_changes('ce', NULL, NULL, 'format', 'cloudevents',
  'source', '');
SELECT count(*) FROM pg_logical_slot_peek_changes('ce', NULL, NULL, 'format', 'cloudevents',
  'stream-changes', '1');
SELECT count(*) FROM pg_logical_slot_peek_changes('ce', NULL, NULL, 'format', 'cloudevents',
  'source', 'urn:example:db%201');
SELECT pg_drop_replication_slot('ce');
\c :"regress_db"
DROP DATABASE "ce db#1";

-- 6. Values too large for one event are left out and named, with a
-- WARNING (its detail gives the LSN); the events after them go on.  180 MB
-- of control characters is over 1 GB of JSON.
\set VERBOSITY terse
CREATE TABLE env_big (id int PRIMARY KEY, small text, big text);
INSERT INTO env_big VALUES (1, 'fine', repeat(E'\x01', 180000000));
INSERT INTO env_big VALUES (2, 'next', 'small');
SELECT e->>'op' AS op, e->'key' AS key, e->'new'->'small' AS small, e->'new' ? 'big' AS has_big,
       e->'oversized' AS oversized
  FROM es_changes('env', 'tables', 'public.env_big') d, LATERAL (SELECT d::jsonb) x(e);
-- the capture worker keeps each part of an event in a jsonb (at most
-- 256 MB): 50 MB of control characters is 300 MB of JSON
SELECT eventstream.create_stream('env_big', '{public.env_big}');
INSERT INTO env_big VALUES (3, 'fine', repeat(E'\x01', 50000000));
INSERT INTO env_big VALUES (4, 'next', 'small');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT op, key, new->'small' AS small, new ? 'big' AS has_big FROM eventstream.read('env_big');
\set VERBOSITY default
SELECT 'moved' FROM pg_replication_slot_advance('env', pg_current_wal_lsn());

-- 7. A slot leaves out the extension's own writes (its catalogs, its
-- log) unless the tables option names its schema
SELECT eventstream.create_stream('env_own', '{public.env_s}');
INSERT INTO env_s VALUES (5000);
SELECT e->>'schema' AS schema, e->>'table' AS "table"
  FROM es_peek('env') d, LATERAL (SELECT d::jsonb) x(e);
SELECT DISTINCT e->>'schema' AS schema, e->>'table' AS "table"
  FROM es_changes('env', 'tables', 'eventstream.stream_catalog, public.env_s') d,
       LATERAL (SELECT d::jsonb) x(e) ORDER BY 1, 2;

SELECT pg_drop_replication_slot('env');
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP TABLE env_tk, env_ti, env_arr, env_s, env_big, env_jn;
