--
-- aggregate_window: sliding windows over an aggregate's time buckets.  A
-- window combines the buckets that start within the last width per other
-- key, and equals the aggregate's query over those rows (same now(), one
-- statement); the worker drops the buckets older than the window; bad
-- input is refused with a hint.
--
CREATE EXTENSION pg_eventstream;
CREATE TABLE readings (id serial PRIMARY KEY, ts timestamptz NOT NULL, device int,
                       v numeric, f float8, tag text);
ALTER TABLE readings REPLICA IDENTITY FULL;
-- twenty minutes of readings, three devices, values exact in float too
INSERT INTO readings (ts, device, v, f, tag)
  SELECT now() - g * interval '2 s', g % 3, (g % 17) * 1.5, (g % 11) * 0.125,
         CASE WHEN g % 5 = 0 THEN NULL ELSE 't' || (g % 4) END
  FROM generate_series(0, 600) g;

SELECT eventstream.create_aggregate('per_minute', $$
  SELECT date_bin('1 minute', ts, timestamptz '2026-01-01') AS minute, device,
         count(*) AS n, count(v) AS nv, sum(v) AS s, avg(v) AS a, min(v) AS lo, max(v) AS hi,
         sum(f) AS sf, avg(f) AS af, count(DISTINCT tag) AS tags, max(v) - min(v) AS spread
  FROM public.readings GROUP BY 1, 2 HAVING count(*) > 1 $$);
SELECT eventstream.create_aggregate('per_minute_all', $$
  SELECT date_bin('1 minute', ts, timestamptz '2026-01-01') AS minute, count(*) AS n, sum(v) AS s
  FROM public.readings GROUP BY 1 $$);
-- keeps all its buckets: drop_older => false
SELECT eventstream.create_window('last_5', 'per_minute', '5 minutes', drop_older => false);
SELECT eventstream.create_window('last_5_all', 'per_minute_all', '5 minutes');
SELECT name, aggregate, width, bucket_column, drop_older FROM eventstream.windows ORDER BY 1;

-- the window against the query over the same buckets, at one now()
CREATE FUNCTION window_diff() RETURNS text LANGUAGE sql AS $$
  WITH q AS (
    SELECT device, count(*) AS n, count(v) AS nv, sum(v) AS s, avg(v) AS a, min(v) AS lo,
           max(v) AS hi, sum(f) AS sf, avg(f) AS af, count(DISTINCT tag) AS tags,
           max(v) - min(v) AS spread
    FROM readings WHERE date_bin('1 minute', ts, timestamptz '2026-01-01') >= now() - interval '5 minutes'
    GROUP BY device HAVING count(*) > 1),
  qa AS (
    SELECT count(*) AS n, sum(v) AS s FROM readings
    WHERE date_bin('1 minute', ts, timestamptz '2026-01-01') >= now() - interval '5 minutes')
  SELECT (SELECT count(*) FROM (SELECT * FROM q EXCEPT ALL SELECT * FROM last_5) d) || '/' ||
         (SELECT count(*) FROM (SELECT * FROM last_5 EXCEPT ALL SELECT * FROM q) d) || ' ' ||
         (SELECT count(*) FROM (SELECT * FROM qa EXCEPT ALL SELECT * FROM last_5_all) d) || '/' ||
         (SELECT count(*) FROM (SELECT * FROM last_5_all EXCEPT ALL SELECT * FROM qa) d)
$$;
SELECT window_diff() AS at_creation;
SELECT count(*) = 3 AS three_devices, bool_and(n > 30) AS many_rows FROM last_5;

-- changes: new rows, updates across buckets and devices, deletes
INSERT INTO readings (ts, device, v, f, tag)
  SELECT now() - g * interval '7 s', g % 4, g % 9, (g % 3) * 0.25, 'u' || (g % 2)
  FROM generate_series(0, 100) g;
UPDATE readings SET device = 2, v = v + 1 WHERE id % 7 = 0;
UPDATE readings SET ts = ts - interval '10 minutes' WHERE id % 11 = 0;
DELETE FROM readings WHERE id % 13 = 0;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT window_diff() AS after_changes;

-- the worker drops the buckets older than last_5_all's width (drop_older)
-- at most once a second, when the table changes: the updates above may
-- have made old buckets again within that second, so one more change a
-- second later; per_minute's stay (last_5 keeps them)
SELECT pg_sleep(1.1);
INSERT INTO readings (ts, device, v, f, tag) VALUES (now(), 0, 1, 0.125, 'x');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT min(minute) >= now() - interval '6 minutes' AS old_buckets_dropped FROM per_minute_all;
SELECT min(minute) < now() - interval '15 minutes' AS old_buckets_kept FROM per_minute;

-- an empty window: counts 0, sums NULL, as the ungrouped query gives
DELETE FROM readings;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT * FROM last_5_all;
SELECT count(*) FROM last_5;

-- refused
\set VERBOSITY default
SELECT eventstream.create_window('w', 'per_minute', '0 s');
SELECT eventstream.create_window('w', 'per_minute', '-5 minutes');
SELECT eventstream.create_window('w', 'per_minute', NULL);
SELECT eventstream.create_window('w', 'readings', '5 minutes');
SELECT eventstream.create_window('last_5', 'per_minute', '5 minutes');
SELECT eventstream.create_aggregate('per_device', 'SELECT device, count(*) FROM public.readings GROUP BY 1');
SELECT eventstream.create_window('w', 'per_device', '5 minutes');
SELECT eventstream.create_aggregate('with_end', $$
  SELECT date_bin('1 minute', ts, timestamptz '2026-01-01') AS minute,
         date_bin('1 minute', ts, timestamptz '2026-01-01') + interval '1 minute' AS minute_end, count(*)
  FROM public.readings GROUP BY 1 $$);
SELECT eventstream.create_window('w', 'with_end', '5 minutes');
SELECT eventstream.drop_window('per_minute');
CREATE ROLE window_other;
GRANT USAGE ON SCHEMA eventstream TO window_other;
SET ROLE window_other;
SELECT eventstream.create_window('w', 'per_minute', '5 minutes');
SELECT eventstream.drop_window('last_5');
RESET ROLE;
\set VERBOSITY terse

-- drop_window, DROP VIEW, and drop_aggregate with windows
SELECT eventstream.drop_window('last_5_all');
SELECT eventstream.create_window('last_2', 'per_minute', '2 minutes');
DROP VIEW last_2;
SELECT name FROM eventstream.windows ORDER BY 1;
SELECT eventstream.drop_aggregate('per_minute');
SELECT count(*) AS windows_left FROM eventstream.window_catalog;
SELECT to_regclass('last_5') IS NULL AS window_dropped;

SELECT eventstream.drop_aggregate('per_minute_all');
SELECT eventstream.drop_aggregate('per_device');
SELECT eventstream.drop_aggregate('with_end');
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP FUNCTION window_diff();
DROP TABLE readings;
DROP OWNED BY window_other;
DROP ROLE window_other;
