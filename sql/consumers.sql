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

-- partitioned consumers: members lease disjoint partitions; a key always
-- maps to the same partition
INSERT INTO cs.o SELECT g, 'p' || g FROM generate_series(10, 29) g;
UPDATE cs.o SET v = 'again' WHERE id BETWEEN 10 AND 14;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT eventstream.create_consumer('pc', 'cs_o', partitions => 0);
SELECT eventstream.create_consumer('pc', 'cs_o', partitions => 4);
SELECT count(*) FROM eventstream.poll('pc');
SELECT count(*) FROM eventstream.poll('pc', member => 'a', lease => '0 s');
CREATE TEMP TABLE got_a AS SELECT * FROM eventstream.poll('pc', 1000, member => 'a');
SELECT count(*) AS a_alone FROM got_a;
-- b joins: it gets nothing until a gives back its surplus on its next poll
SELECT count(*) AS b_first FROM eventstream.poll('pc', 1000, member => 'b');
SELECT count(*) > 0 AS a_again FROM eventstream.poll('pc', 1000, member => 'a');
CREATE TEMP TABLE got_b AS SELECT * FROM eventstream.poll('pc', 1000, member => 'b');
SELECT member, count(*) AS partitions FROM eventstream.consumer_partitions
 WHERE consumer_id = (SELECT id FROM eventstream.consumer_catalog WHERE name = 'pc')
 GROUP BY member ORDER BY member;
-- disjoint: no event to both; per key, one partition
SELECT count(*) AS overlap FROM got_b b
  JOIN eventstream.poll('pc', 1000, member => 'a') a USING (id);
SELECT count(DISTINCT eventstream.partition_of(key, id, 4)) = 1 AS one_partition_per_key
  FROM (SELECT key, id FROM got_a WHERE key = '{"id": 12}') k;
-- commit as a member, within what it was given
SELECT eventstream.commit('pc', 1000000, member => 'b');
SELECT eventstream.commit('pc', (SELECT max(id) FROM got_b), member => 'b') > 0 AS committed;
SELECT eventstream.commit('pc', 1);
SELECT count(*) AS b_after_commit FROM eventstream.poll('pc', 1000, member => 'b');
SELECT name, partitions, jsonb_array_length(partition_positions) AS positions,
       (SELECT count(*) FROM jsonb_object_keys(members)) AS members
  FROM eventstream.consumers WHERE name = 'pc';
-- lag: each partition's events after its own position, not after the lowest
SELECT lag_events = (SELECT count(*) FROM eventstream.read('cs_o', 0, 100000) e
                       JOIN eventstream._partition_positions p
                         ON p.consumer_id = (SELECT id FROM eventstream.consumer_catalog WHERE name = 'pc')
                        AND p.partition = eventstream.partition_of(e.key, e.id, 4)
                      WHERE e.id > p.committed) AS lag_is_exact,
       lag_events > 0 AND lag_events < (SELECT count(*) FROM eventstream.read('cs_o', 0, 100000))
         AS some_committed
  FROM eventstream.consumers WHERE name = 'pc';
-- a lease that is not renewed expires, and another member resumes there
SELECT count(*) >= 0 FROM eventstream.poll('pc', 1000, member => 'b', lease => '0.1 s');
SELECT pg_sleep(0.3);
SELECT count(*) >= 0 FROM eventstream.poll('pc', 1000, member => 'a', lease => '0.1 s');
SELECT pg_sleep(0.3);
SELECT count(*) >= 0 FROM eventstream.poll('pc', 1000, member => 'a');
SELECT member, count(*) AS partitions FROM eventstream.consumer_partitions
 WHERE consumer_id = (SELECT id FROM eventstream.consumer_catalog WHERE name = 'pc')
 GROUP BY member ORDER BY member;
-- what b committed (kept in b's row) came with its partitions: a gets
-- none of those events again, and gets the new ones of b's partitions
INSERT INTO cs.o SELECT g, 'late ' || g FROM generate_series(200, 240) g;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT count(*) FILTER (WHERE e.id <= (SELECT max(id) FROM got_b)) AS redelivered,
       count(*) > 0 AS rest_delivered
  FROM eventstream.poll('pc', 1000, member => 'a') e
 WHERE eventstream.partition_of(e.key, e.id, 4) IN (SELECT eventstream.partition_of(key, id, 4) FROM got_b);

SELECT eventstream.drop_consumer('c_late');
SELECT eventstream.drop_consumer('c_late');
-- a poll reads the next events in id order and stops: with a backlog,
-- once the plan is cached (generic), it fetches about max_events rows of
-- the log, not the whole backlog
CREATE TABLE cs.backlog (id int PRIMARY KEY);
SELECT eventstream.create_stream('cs_backlog', '{cs.backlog}');
INSERT INTO cs.backlog SELECT generate_series(1, 20000);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT eventstream.create_consumer('c_backlog', 'cs_backlog');
DO $$
DECLARE
	last bigint;
BEGIN
	FOR i IN 1..8 LOOP
		SELECT max(id) INTO last FROM eventstream.poll('c_backlog', 10);
		PERFORM eventstream.commit('c_backlog', last);
	END LOOP;
END
$$;
-- rows of a stream's log read in this transaction: by a bitmap scan
-- (counted on the segment) or an index scan (counted on its index),
-- compared before and after (the counters may hold earlier transactions'
-- reads not reported yet)
CREATE FUNCTION cs.log_rows_read(stream text) RETURNS bigint LANGUAGE sql AS $$
  SELECT sum(pg_stat_get_xact_tuples_fetched(r)) FROM eventstream._segments() g,
         LATERAL (SELECT g.rel::oid UNION ALL SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = g.rel) x(r)
   WHERE g.stream_id = (SELECT id FROM eventstream.stream_catalog s WHERE s.name = stream) $$;
BEGIN;
SELECT cs.log_rows_read('cs_backlog') AS before \gset
SELECT count(*) FROM eventstream.poll('c_backlog', 10);
SELECT cs.log_rows_read('cs_backlog') - :before < 100 AS bounded_read;
COMMIT;
-- partitioned, the same: one member holding 64 partitions reads about
-- max_events rows per poll, because partitions without events among those
-- delivered move with the commit instead of holding the next scan back
SELECT eventstream.create_consumer('p_backlog', 'cs_backlog', partitions => 64);
DO $$
DECLARE
	last bigint;
BEGIN
	FOR i IN 1..8 LOOP
		SELECT max(id) INTO last FROM eventstream.poll('p_backlog', 10, member => 'm');
		PERFORM eventstream.commit('p_backlog', last, member => 'm');
	END LOOP;
END
$$;
BEGIN;
SELECT cs.log_rows_read('cs_backlog') AS before \gset
SELECT count(*) FROM eventstream.poll('p_backlog', 10, member => 'm');
SELECT cs.log_rows_read('cs_backlog') - :before < 100 AS bounded_read;
COMMIT;
SELECT count(DISTINCT (p->>'position')) AS positions,
       min((p->>'position')::bigint) = (SELECT max(id) FROM eventstream.read('cs_backlog', 0, 80)) AS all_at_commit
  FROM eventstream.consumers c, jsonb_array_elements(c.partition_positions) p
 WHERE c.name = 'p_backlog';
SELECT eventstream.drop_stream('cs_backlog');

-- a member whose partitions get no events (one hot key, two partitions)
-- finds nothing, and its partition moves past what it read: its polls do
-- not read the other's backlog again and again
CREATE TABLE cs.hot (id int PRIMARY KEY, v int);
SELECT eventstream.create_stream('cs_hot', '{cs.hot}');
INSERT INTO cs.hot VALUES (1, 0);
DO $$ BEGIN FOR i IN 1..300 LOOP UPDATE cs.hot SET v = i; END LOOP; END $$;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT eventstream.create_consumer('p_hot', 'cs_hot', partitions => 2);
SELECT count(*) FROM eventstream.poll('p_hot', 1, member => 'a');
SELECT count(*) FROM eventstream.poll('p_hot', 1, member => 'b');
SELECT count(*) FROM eventstream.poll('p_hot', 1, member => 'a');  -- gives partition 1 back
SELECT count(*) FROM eventstream.poll('p_hot', 1, member => 'b');  -- takes it
CREATE TEMP VIEW idle AS
  SELECT p.member, p.committed FROM eventstream._partition_positions p
   WHERE p.consumer_id = (SELECT id FROM eventstream.consumer_catalog WHERE name = 'p_hot')
     AND p.partition = 1 - eventstream.partition_of('{"id": 1}', 0, 2);
SELECT count(*) AS idle_gets FROM eventstream.poll('p_hot', 10, member => (SELECT member FROM idle));
SELECT committed = (SELECT max(id) FROM eventstream.read('cs_hot', 0, 1000)) AS idle_moved_to_end FROM idle;
BEGIN;
SELECT cs.log_rows_read('cs_hot') AS before \gset
SELECT count(*) AS idle_gets FROM eventstream.poll('p_hot', 10, member => (SELECT member FROM idle));
SELECT cs.log_rows_read('cs_hot') - :before < 10 AS idle_reads_nothing;
COMMIT;
DROP VIEW idle;
SELECT eventstream.drop_stream('cs_hot');

-- a poll of 1000 in a new session (custom plans) on a new, never
-- analysed segment: it reads the next ids as a range (ids are dense), so
-- no plan sorts the whole backlog for it
CREATE TABLE cs.big (id int PRIMARY KEY);
SELECT eventstream.create_stream('cs_big', '{cs.big}');
INSERT INTO cs.big SELECT generate_series(1, 20000);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT eventstream.create_consumer('c_big', 'cs_big');
\c
BEGIN;
SELECT cs.log_rows_read('cs_big') AS before \gset
SELECT count(*) FROM eventstream.poll('c_big', 1000);
SELECT cs.log_rows_read('cs_big') - :before < 3000 AS bounded_big_read;
COMMIT;
SELECT eventstream.drop_stream('cs_big');

-- dropping the stream drops its consumers
SELECT eventstream.drop_stream('cs_o');
SELECT count(*) FROM eventstream.consumers;

DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP SCHEMA cs CASCADE;
DROP OWNED BY cs_reader;
DROP ROLE cs_reader;
