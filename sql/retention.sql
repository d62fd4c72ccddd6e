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
ALTER SYSTEM RESET eventstream.retention_interval;
SELECT pg_reload_conf();

DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP TABLE ret_t;
