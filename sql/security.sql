--
-- security: the reproductions of an attacker with an ordinary login role.
-- sec_alice owns tables, sec_bob has no rights, sec_carol may SELECT.
-- Each block failed before the fix it tests.
--
CREATE EXTENSION pg_eventstream;
CREATE ROLE sec_alice;
CREATE ROLE sec_bob;
CREATE ROLE sec_carol;
GRANT USAGE ON SCHEMA eventstream TO sec_alice, sec_bob, sec_carol;
CREATE SCHEMA alice AUTHORIZATION sec_alice;
CREATE SCHEMA bob AUTHORIZATION sec_bob;
GRANT USAGE ON SCHEMA alice TO sec_bob, sec_carol;
GRANT CREATE ON SCHEMA public TO sec_bob;
-- (once the worker runs: its pid is NULL until it starts)
SELECT eventstream.sync() IS NOT NULL AS worker_ready;
SELECT pid AS worker_pid FROM eventstream.status \gset

-- 1. no SECURITY DEFINER function of the extension may be run by PUBLIC
SELECT p.proname FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_eventstream'
 WHERE p.prosecdef AND has_function_privilege('sec_bob', p.oid, 'EXECUTE');

-- ... so bob's trojan view counted through it no longer runs as the owner
SET ROLE sec_bob;
CREATE FUNCTION bob.pwn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'ALTER ROLE sec_bob SUPERUSER';
  RETURN true;
END $$;
CREATE VIEW bob.trojan AS SELECT 1 AS one WHERE bob.pwn();
SELECT eventstream._aggregate_groups('bob.trojan'::regclass);
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_bob';

-- an aggregate's table belongs to the extension: its owner cannot put
-- triggers, rules, policies or indexes on it, nor count others' groups
CREATE TABLE alice.m (id int PRIMARY KEY, g int, v int);
ALTER TABLE alice.m OWNER TO sec_alice;
ALTER TABLE alice.m REPLICA IDENTITY FULL;
SET ROLE sec_alice;
INSERT INTO alice.m SELECT i, i % 3, i FROM generate_series(1, 30) i;
SELECT eventstream.create_aggregate('alice.m_by_g', 'SELECT g, count(*), sum(v) FROM alice.m GROUP BY g');
RESET ROLE;
SELECT a.mat_relid::regclass AS mat FROM eventstream.aggregate_catalog a
 WHERE a.view_relid = 'alice.m_by_g'::regclass \gset
SET ROLE sec_alice;
SELECT count(*) AS alice_reads_her_view FROM alice.m_by_g;
CREATE FUNCTION alice.t() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER t BEFORE INSERT ON :mat FOR EACH ROW EXECUTE FUNCTION alice.t();
CREATE RULE "_RETURN" AS ON SELECT TO :mat DO INSTEAD SELECT 1;
ALTER TABLE :mat ENABLE ROW LEVEL SECURITY;
CREATE INDEX ON :mat (__count);
SELECT groups FROM eventstream.aggregates WHERE name = 'alice.m_by_g'::regclass;
SET ROLE sec_bob;
SELECT groups FROM eventstream.aggregates WHERE name = 'alice.m_by_g'::regclass;
RESET ROLE;

-- 2. backfill reads a table as its owner: bob's cast runs as bob
CREATE TABLE bob.calls (who name, super boolean);
ALTER TABLE bob.calls OWNER TO sec_bob;
SET ROLE sec_bob;
CREATE TYPE bob.e AS ENUM ('x', 'y');
CREATE FUNCTION bob.e2t(bob.e) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO bob.calls SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
  RETURN $1::name::text;
END $$;
CREATE CAST (bob.e AS text) WITH FUNCTION bob.e2t(bob.e);
CREATE TABLE bob.t (k bob.e PRIMARY KEY, v int);
INSERT INTO bob.t VALUES ('x', 1), ('y', 2);
SELECT eventstream.create_stream('bob_backfill', '{bob.t}', backfill => true);
RESET ROLE;
DO $$
DECLARE deadline timestamptz := clock_timestamp() + interval '30 s';
BEGIN
  WHILE EXISTS (SELECT 1 FROM eventstream.backfills WHERE stream = 'bob_backfill' AND state NOT IN ('done', 'failed'))
        AND clock_timestamp() < deadline LOOP
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT state, rows_done FROM eventstream.backfills WHERE stream = 'bob_backfill';
SELECT DISTINCT who, super FROM bob.calls;

-- 3. stored statements keep the objects they were made with: a function
-- bob puts earlier on a path never replaces alice's, in the worker or in
-- a superuser's refresh
CREATE TABLE bob.ran (who name);
ALTER TABLE bob.ran OWNER TO sec_bob;
GRANT INSERT ON bob.ran TO PUBLIC;
CREATE TABLE alice.readings (id int PRIMARY KEY, v int);
ALTER TABLE alice.readings OWNER TO sec_alice;
ALTER TABLE alice.readings REPLICA IDENTITY FULL;
SET ROLE sec_alice;
CREATE FUNCTION alice.bucket(numeric) RETURNS numeric IMMUTABLE LANGUAGE sql AS 'SELECT floor($1 / 10)';
SET search_path = alice, public;
SELECT eventstream.create_aggregate('alice.by_bucket', 'SELECT bucket(v) AS b, count(*) FROM readings GROUP BY 1');
RESET search_path;
RESET ROLE;
SELECT delta_sql LIKE '%alice.bucket(%' AS qualified FROM eventstream.aggregate_catalog
 WHERE view_relid = 'alice.by_bucket'::regclass;
SET ROLE sec_bob;
CREATE FUNCTION public.bucket(int) RETURNS numeric IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO bob.ran VALUES (current_user);
  RETURN 0;
END $$;
RESET ROLE;
INSERT INTO alice.readings SELECT i, i FROM generate_series(1, 50) i;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT eventstream.refresh_aggregate('alice.by_bucket');
SELECT count(*) AS bobs_function_ran FROM bob.ran;
SELECT count(*) AS buckets FROM alice.by_bucket;

-- 4. a DROP DATABASE that is refused costs the database nothing
SET ROLE sec_bob;
SELECT format('DROP DATABASE %I', current_database()) \gexec
RESET ROLE;
SELECT count(*) AS slot_kept FROM pg_replication_slots
 WHERE slot_name = 'eventstream_' || (SELECT oid FROM pg_database WHERE datname = current_database());

-- 5. no input stops capture: bad messages, values jsonb cannot hold,
-- names with blanks
CREATE TABLE alice.docs (id int PRIMARY KEY, doc json);
CREATE TABLE alice."my table" (id int PRIMARY KEY);
CREATE TABLE alice." lead" (id int PRIMARY KEY);
ALTER TABLE alice.docs OWNER TO sec_alice;
ALTER TABLE alice."my table" OWNER TO sec_alice;
ALTER TABLE alice." lead" OWNER TO sec_alice;
SET ROLE sec_alice;
SELECT eventstream.create_stream('alice_docs', '{alice.docs}');
SELECT eventstream.create_stream('alice_blanks', '{"alice.\"my table\"", "alice.\" lead\""}');
RESET ROLE;
SET ROLE sec_bob;
SELECT pg_logical_emit_message(true, 'eventstream', 'this is not json') IS NOT NULL AS sent;
-- 6. ... and forged events never land
SELECT pg_logical_emit_message(true, 'eventstream',
  '{"stream":"alice_docs","key":null,"payload":{"forged":true}}') IS NOT NULL AS sent;
SELECT pg_logical_emit_message(true, 'eventstream',
  repeat('0', 64) || ' {"stream":"alice_docs","key":null,"payload":{"forged":true}}') IS NOT NULL AS sent;
RESET ROLE;
SET ROLE sec_alice;
INSERT INTO alice.docs VALUES (1, '{"a":"\u0000"}'), (2, '{"n":1e300000}'), (3, '{"ok":true}');
SELECT eventstream.emit('alice_docs', '{"by":"emit"}') IS NOT NULL AS emitted;
INSERT INTO alice."my table" VALUES (1);
INSERT INTO alice." lead" VALUES (1);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT id, op, key, new->>'op' AS failed_op, new->>'sqlstate' AS sqlstate, new ? 'error' AS has_error,
       CASE WHEN op <> 'error' THEN new END AS new
  FROM eventstream.read('alice_docs');
SELECT table_name, op, key FROM eventstream.read('alice_blanks') ORDER BY id;
RESET ROLE;
SELECT pid = :worker_pid AS same_worker FROM eventstream.status;

-- 7. one owner's slow code is cut off, and holds back no one else
ALTER SYSTEM SET eventstream.user_code_timeout = '300ms';
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
CREATE TABLE alice.slow (id int PRIMARY KEY, v int);
ALTER TABLE alice.slow OWNER TO sec_alice;
ALTER TABLE alice.slow REPLICA IDENTITY FULL;
SET ROLE sec_alice;
CREATE FUNCTION alice.slow_bucket(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(30);
  RETURN $1;
END $$;
SELECT eventstream.create_aggregate('alice.slow_agg', 'SELECT alice.slow_bucket(v), count(*) FROM alice.slow GROUP BY 1');
INSERT INTO alice.slow VALUES (1, 1);
INSERT INTO alice.docs VALUES (4, '{"after":"slow"}');
SELECT eventstream.sync('20 s') IS NOT NULL AS synced;
SELECT state, error FROM eventstream.aggregates WHERE name = 'alice.slow_agg'::regclass;
SELECT count(*) AS docs_after_slow FROM eventstream.read('alice_docs') WHERE new->'doc'->>'after' = 'slow';
RESET ROLE;
ALTER SYSTEM RESET eventstream.user_code_timeout;
SELECT pg_reload_conf();

-- 8. emit() payloads are bounded
SET eventstream.max_message_size = '1kB';
SELECT eventstream.emit('alice_docs', jsonb_build_object('big', repeat('x', 5000)));
RESET eventstream.max_message_size;

-- 9. row-level security of the source applies to its events
CREATE TABLE alice.secret (id int PRIMARY KEY, secret text, visible boolean);
ALTER TABLE alice.secret OWNER TO sec_alice;
SET ROLE sec_alice;
ALTER TABLE alice.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_visible ON alice.secret FOR SELECT TO sec_carol USING (visible);
GRANT SELECT ON alice.secret TO sec_carol;
SELECT eventstream.create_stream('alice_secret', '{alice.secret}');
INSERT INTO alice.secret VALUES (3000, 'public', true), (3001, 'hidden', false);
SELECT eventstream.create_stream_view('alice.secret_changes', 'alice_secret', 'alice.secret');
GRANT SELECT ON alice.secret_changes TO sec_carol;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT count(*) AS alice_sees FROM eventstream.read('alice_secret');
RESET ROLE;
SET ROLE sec_carol;
SELECT count(*) FROM alice.secret;
SELECT count(*) FROM eventstream.read('alice_secret');
SELECT count(*) AS carol_log FROM eventstream.event_log WHERE table_name = 'secret';
SELECT count(*) AS carol_view FROM alice.secret_changes;
RESET ROLE;

-- 10. consumers: none on a stream one may not read, and no counts of
-- events one may not see
SET ROLE sec_alice;
SELECT eventstream.create_consumer('alice_c', 'alice_docs', partitions => 4);
RESET ROLE;
SET ROLE sec_bob;
INSERT INTO eventstream.consumer_catalog (name, stream_id, owner, committed, delivered, partitions)
  SELECT 'bob_spy', c.id, (SELECT oid FROM pg_roles WHERE rolname = 'sec_bob'), 0, 0, 8
  FROM eventstream.stream_catalog c WHERE c.name = 'alice_docs';
SELECT count(*) AS bob_sees_consumers FROM eventstream.consumers;
SELECT name, first_id, last_id FROM eventstream.streams WHERE name IN ('alice_docs', 'bob_backfill') ORDER BY 1;
RESET ROLE;

-- 11. status is for everyone, the counts of events for pg_read_all_stats
SET ROLE sec_bob;
SELECT pid IS NOT NULL AS running, events_total, events_per_sec, last_batch_at FROM eventstream.status;
RESET ROLE;
SELECT events_total > 0 AS counted FROM eventstream.status;

-- 12. events of a dropped table: its stream's owners still read them
CREATE TABLE alice.gone (id int PRIMARY KEY);
ALTER TABLE alice.gone OWNER TO sec_alice;
SET ROLE sec_alice;
SELECT eventstream.create_stream('alice_gone', '{alice.gone}');
INSERT INTO alice.gone VALUES (1), (2);
SELECT eventstream.sync() IS NOT NULL AS synced;
DROP TABLE alice.gone;
SELECT count(*) AS owner_reads FROM eventstream.read('alice_gone');
RESET ROLE;
SET ROLE sec_bob;
SELECT count(*) AS others_read FROM eventstream.event_log l
  JOIN eventstream.stream_catalog c ON c.id = l.stream_id WHERE c.name = 'alice_gone';
RESET ROLE;

-- and the rest: each bad input is an error
SET ROLE sec_alice;
SELECT eventstream.create_aggregate('alice.sampled', 'SELECT count(*) FROM alice.m TABLESAMPLE SYSTEM (1)');
CREATE UNLOGGED TABLE alice.quick (id int PRIMARY KEY);
SELECT eventstream.create_stream('alice_quick', '{alice.quick}');
SELECT eventstream.create_consumer('alice_c1', 'alice_docs');
SELECT eventstream.seek('alice_c1', 9223372036854775807);
SELECT * FROM eventstream.poll('alice_c1', member => 'a');
SELECT * FROM eventstream.poll('alice_c', member => 'a', lease => '1000 years');
RESET ROLE;
SELECT eventstream.drop_aggregate(0);
SELECT eventstream.sync('0');
SELECT 'init' FROM pg_create_logical_replication_slot('sec_slot', 'pg_eventstream');
SELECT count(*) FROM pg_logical_slot_peek_changes('sec_slot', NULL, NULL, 'pretty', '1', 'pretty', '0');
SELECT count(*) FROM pg_logical_slot_peek_changes('sec_slot', NULL, NULL, 'tables', '');
SELECT pg_drop_replication_slot('sec_slot');

SELECT pid = :worker_pid AS same_worker_at_the_end FROM eventstream.status;
DROP EXTENSION pg_eventstream CASCADE;
CALL es_wait_worker_gone();
DROP SCHEMA alice, bob CASCADE;
REVOKE CREATE ON SCHEMA public FROM sec_bob;
DROP OWNED BY sec_alice, sec_bob, sec_carol;
DROP ROLE sec_alice, sec_bob, sec_carol;
