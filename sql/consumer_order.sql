--
-- consumer_order: a property test of partitioned consumers.  Members join
-- and leave at random (seeded) while others poll with short leases and
-- commit what they processed; afterwards every event was processed exactly
-- once and, for every key, in id order -- across lease handovers.
--
CREATE EXTENSION pg_eventstream;
CREATE TABLE po_keys (id int PRIMARY KEY, v int);
SELECT eventstream.create_stream('po', '{po_keys}');
SELECT setseed(0.42);
INSERT INTO po_keys SELECT g, 0 FROM generate_series(1, 30) g;
DO $$
BEGIN
  FOR i IN 1 .. 300 LOOP
    UPDATE po_keys SET v = v + 1 WHERE id = 1 + floor(random() * 30)::int;
  END LOOP;
END
$$;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT eventstream.create_consumer('po', 'po', partitions => 6);
CREATE TABLE po_processed (step int, member text, event_id bigint, key jsonb);

DO $$
DECLARE
  members text[] := ARRAY['m1', 'm2', 'm3', 'm4'];
  alive boolean[] := ARRAY[true, false, false, false];
  m int;
  last bigint;
  n int := 0;
BEGIN
  LOOP
    n := n + 1;
    EXIT WHEN n > 2000;
    -- now and then a member joins or leaves (one always stays)
    IF random() < 0.15 THEN
      m := 1 + floor(random() * 4)::int;
      alive[m] := NOT alive[m];
      IF NOT (true = ANY (alive)) THEN
        alive[m] := true;
      END IF;
    END IF;
    -- a live member polls a few events, processes and commits them
    LOOP
      m := 1 + floor(random() * 4)::int;
      EXIT WHEN alive[m];
    END LOOP;
    INSERT INTO po_processed
      SELECT n, members[m], id, key
      FROM eventstream.poll('po', 4, member => members[m], lease => '0.02 s');
    SELECT max(event_id) INTO last FROM po_processed WHERE po_processed.step = n;
    IF last IS NOT NULL THEN
      PERFORM eventstream.commit('po', last, member => members[m]);
    END IF;
    EXIT WHEN (SELECT lag_events FROM eventstream.consumers WHERE name = 'po') = 0;
    PERFORM pg_sleep(0.005);
  END LOOP;
END
$$;

-- every event exactly once
SELECT (SELECT count(*) FROM eventstream.read('po', 0, 100000)) AS events,
       count(*) AS processed, count(DISTINCT event_id) AS distinct_processed
  FROM po_processed;
-- per key, in id order
SELECT count(*) AS keys_out_of_order FROM (
  SELECT key, array_agg(event_id ORDER BY step, event_id) AS ids
  FROM po_processed GROUP BY key) k
 WHERE ids <> (SELECT array_agg(x ORDER BY x) FROM unnest(k.ids) x);
-- more than one member did the work
SELECT count(DISTINCT member) > 1 AS shared FROM po_processed;

DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP TABLE po_keys, po_processed;
