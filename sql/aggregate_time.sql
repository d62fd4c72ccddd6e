--
-- aggregate_time: date/time functions that are only stable through the
-- session's TimeZone, DateStyle and IntervalStyle (date_trunc on
-- timestamptz, its 3-argument form, casts to date) are accepted: the
-- settings in force at create_aggregate are pinned, shown in
-- eventstream.aggregates, and every later evaluation -- the worker's
-- deltas, refresh_aggregate -- runs under them.  Writers and readers here
-- use other zones; the view must equal the query run under the pinned one.
--
CREATE EXTENSION pg_eventstream;
CREATE TABLE tz_ev (id int PRIMARY KEY, ts timestamptz NOT NULL, v int);
ALTER TABLE tz_ev REPLICA IDENTITY FULL;
INSERT INTO tz_ev SELECT g, timestamptz '2026-03-06 00:00 UTC' + g * interval '41 minutes', g % 17
  FROM generate_series(1, 200) g;

SET TimeZone = 'America/New_York';     -- DST starts on 2026-03-08 there
SELECT eventstream.create_aggregate('tz_daily', $$
  SELECT date_trunc('day', ts) AS day, date_trunc('day', ts, 'Asia/Tokyo') AS tokyo_day,
         ts::date AS local_date, count(*) AS n, sum(v) AS s, max(ts) AS last
  FROM public.tz_ev GROUP BY 1, 2, 3 $$);
SELECT name, settings FROM eventstream.aggregates;
RESET TimeZone;

CREATE FUNCTION tz_query() RETURNS TABLE (day timestamptz, tokyo_day timestamptz, local_date date,
                                         n bigint, s bigint, last timestamptz)
LANGUAGE sql AS $$
  SELECT date_trunc('day', ts), date_trunc('day', ts, 'Asia/Tokyo'), ts::date, count(*), sum(v), max(ts)
  FROM tz_ev GROUP BY 1, 2, 3 $$;
-- "missing/extra" of the view against the query under a zone
CREATE FUNCTION tz_diff(zone text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;
  extra bigint;
BEGIN
  PERFORM set_config('TimeZone', zone, true);
  SELECT count(*) INTO missing FROM (SELECT * FROM tz_query() EXCEPT ALL SELECT * FROM tz_daily) d;
  SELECT count(*) INTO extra FROM (SELECT * FROM tz_daily EXCEPT ALL SELECT * FROM tz_query()) d;
  RETURN missing || '/' || extra;
END
$$;

SELECT tz_diff('America/New_York') AS backfilled;

-- writers in other zones: inserts, moves across day boundaries, deletes
SET TimeZone = 'UTC';
SELECT setseed(0.11);
DO $$
BEGIN
  FOR i IN 1 .. 300 LOOP
    IF random() < 0.4 THEN
      INSERT INTO tz_ev VALUES (1000 + i, timestamptz '2026-03-06 00:00 UTC' + random() * interval '5 days',
                                floor(random() * 17)::int);
    ELSIF random() < 0.6 THEN
      UPDATE tz_ev SET ts = ts + (random() - 0.5) * interval '10 hours' WHERE id = 1 + floor(random() * 200)::int;
    ELSE
      DELETE FROM tz_ev WHERE id = 1 + floor(random() * 200)::int;
    END IF;
  END LOOP;
END
$$;
SET TimeZone = 'Asia/Kolkata';
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT tz_diff('America/New_York') AS maintained;
-- the pinned zone matters: under UTC the query groups otherwise
SELECT tz_diff('UTC') <> '0/0' AS differs_under_utc;

-- refresh from a session in yet another zone computes the same
SET TimeZone = 'Pacific/Auckland';
SELECT eventstream.refresh_aggregate('tz_daily');
SELECT tz_diff('America/New_York') AS refreshed;
RESET TimeZone;

-- what pinning cannot fix stays refused
SELECT eventstream.create_aggregate('tz_bad', 'SELECT ts > now() AS future, count(*) FROM public.tz_ev GROUP BY 1');
SELECT eventstream.create_aggregate('tz_bad', 'SELECT count(*) FROM public.tz_ev WHERE ts > current_timestamp');
SELECT eventstream.create_aggregate('tz_bad', 'SELECT to_char(ts, ''TMMonth'') AS m, count(*) FROM public.tz_ev GROUP BY 1');
-- an aggregate without such functions pins nothing
SELECT eventstream.create_aggregate('tz_plain', 'SELECT v, count(*) FROM public.tz_ev GROUP BY 1');
SELECT name, settings FROM eventstream.aggregates ORDER BY name::text;

SELECT eventstream.drop_aggregate('tz_daily');
SELECT eventstream.drop_aggregate('tz_plain');
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP FUNCTION tz_diff(text), tz_query();
DROP TABLE tz_ev;
