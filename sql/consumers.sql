--
-- consumers: create_consumer, poll, commit, seek, drop_consumer and the
-- consumers view; at-least-once delivery, positions atomic with the
-- caller's transaction.  (Partitioned consumers are not in this release.)
--
CREATE EXTENSION pg_eventstream;
CREATE SCHEMA cs;
CREATE TABLE cs.o (id int PRIMARY KEY, v text);
SELECT eventstream.create_stream('cs_o', '{cs.o}');
INSERT INTO cs.o SELECT g, 'v' || g FROM generate_series(1, 5) g;
SELECT eventstream.sync() IS NOT NULL AS synced;

-- bad arguments
SELECT eventstream.create_consumer(NULL, 'cs_o');
SELECT eventstream.create_consumer('c; DROP TABLE cs.o', 'cs_o');
SELECT eventstream.create_consumer('c1', 'no_such_stream');
SELECT eventstream.create_consumer('c1', 'cs_o', start_at => 'middle');
SELECT * FROM eventstream.poll('no_such_consumer');
SELECT * FROM eventstream.poll(NULL);

SELECT eventstream.create_consumer('c1', 'cs_o');
SELECT eventstream.create_consumer('c1', 'cs_o');
SELECT eventstream.create_consumer('c_late', 'cs_o', start_at => 'latest');
SELECT * FROM eventstream.poll('c1', max_events => 0);
SELECT * FROM eventstream.poll('c1', wait => '-1 s');

-- at least once: the same events until committed
SELECT id, op, key FROM eventstream.poll('c1', 3);
SELECT id FROM eventstream.poll('c1', 3);
SELECT eventstream.commit('c1', 4);
SELECT eventstream.commit('c1', -1);
SELECT eventstream.commit('c1', NULL);
SELECT eventstream.commit('no_such_consumer', 1);
SELECT eventstream.commit('c1', 2);
SELECT id FROM eventstream.poll('c1', 10);

-- commit is part of the caller's transaction
BEGIN;
SELECT eventstream.commit('c1', 5);
ROLLBACK;
SELECT position, delivered FROM eventstream.consumers WHERE name = 'c1';
BEGIN;
SELECT eventstream.commit('c1', 5);
COMMIT;
SELECT position, lag_events FROM eventstream.consumers WHERE name = 'c1';

-- nothing new: with a wait, the poll returns empty when the time is up
SELECT count(*) FROM eventstream.poll('c1', 10, wait => '0.2 s');
SELECT count(*) FROM eventstream.poll('c_late', 10);
INSERT INTO cs.o VALUES (6, 'six');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT id, key FROM eventstream.poll('c_late', 10);

-- seek by id and by time
SELECT eventstream.seek('c1', 1);
SELECT id FROM eventstream.poll('c1', 2);
SELECT eventstream.seek('c1', now() + interval '1 day');
SELECT count(*) FROM eventstream.poll('c1');
SELECT eventstream.seek('c1', timestamptz '2000-01-01');
SELECT count(*) FROM eventstream.poll('c1');
SELECT eventstream.seek('c1', NULL::bigint);
SELECT eventstream.seek('c1', NULL::timestamptz);

SELECT name, stream, position, delivered, lag_events FROM eventstream.consumers ORDER BY name;

-- another role reads with SELECT on the table, but cannot move a
-- consumer it does not own
CREATE ROLE cs_reader;
GRANT USAGE ON SCHEMA eventstream, cs TO cs_reader;
GRANT SELECT ON cs.o TO cs_reader;
SET ROLE cs_reader;
SELECT count(*) FROM eventstream.poll('c1');
SELECT eventstream.commit('c1', 6);
SELECT eventstream.seek('c1', 0);
SELECT eventstream.drop_consumer('c1');
-- nor behind the functions' back: row-level security keeps the row
WITH moved AS (UPDATE eventstream.consumer_catalog SET committed = 0 RETURNING 1)
SELECT count(*) AS rows_moved FROM moved;
SELECT eventstream.create_consumer('c_reader', 'cs_o');
SELECT count(*) FROM eventstream.poll('c_reader');
RESET ROLE;
REVOKE SELECT ON cs.o FROM cs_reader;
SET ROLE cs_reader;
SELECT count(*) FROM eventstream.poll('c_reader');
RESET ROLE;

SELECT eventstream.drop_consumer('c_late');
SELECT eventstream.drop_consumer('c_late');
-- dropping the stream drops its consumers
SELECT eventstream.drop_stream('cs_o');
SELECT count(*) FROM eventstream.consumers;

DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP SCHEMA cs CASCADE;
DROP OWNED BY cs_reader;
DROP ROLE cs_reader;
