--
-- retention: the log is kept in segments of segment_size ids; the worker
-- drops whole segments whose events are all older than the retention,
-- never the newest one.
--
CREATE EXTENSION pg_eventstream;
CREATE TABLE ret_t (id int PRIMARY KEY);
SET eventstream.segment_size = 10;
SELECT eventstream.create_stream('ret', '{ret_t}', retention => '1 second');
SELECT eventstream.create_stream('keep', '{ret_t}');
RESET eventstream.segment_size;
INSERT INTO ret_t SELECT generate_series(1, 25);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT name, first_id, last_id, segments, segment_size FROM eventstream.streams ORDER BY name;
SELECT count(*) AS segment_tables FROM pg_inherits
 WHERE inhparent = 'eventstream.event_log'::regclass;

-- let the events age, then check retention every second
SELECT pg_sleep(1.2);
INSERT INTO ret_t VALUES (26);
SELECT eventstream.sync() IS NOT NULL AS synced;
ALTER SYSTEM SET eventstream.retention_interval = 1;
SELECT pg_reload_conf();
DO $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
	WHILE (SELECT segments FROM eventstream.streams WHERE name = 'ret') > 1 LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'retention did not drop the old segments';
		END IF;
		-- end the transaction: its locks on the log would hold retention off
		COMMIT;
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT name, first_id, last_id, segments FROM eventstream.streams ORDER BY name;
SELECT min(id), max(id), count(*) FROM eventstream.read('ret');
SELECT min(id), max(id), count(*) FROM eventstream.read('keep');
-- one batch after another across segment boundaries, the worker reading
-- each stream's last id from its newest segments: ids stay dense, and no
-- batch fails on an id already taken (the worker would exit and restart)
SELECT pid AS worker_pid FROM eventstream.status \gset
DO $$
BEGIN
	FOR i IN 27..48 LOOP
		INSERT INTO ret_t VALUES (i);
		COMMIT;
		PERFORM eventstream.sync();
	END LOOP;
END
$$;
SELECT name, last_id, max(id) - min(id) + 1 = count(*) AS dense
  FROM eventstream.streams s, eventstream.read(s.name, 0, 1000) r
 GROUP BY name, last_id ORDER BY name;
SELECT pid = :worker_pid AS same_worker FROM eventstream.status;
ALTER SYSTEM RESET eventstream.retention_interval;
SELECT pg_reload_conf();

DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP TABLE ret_t;
