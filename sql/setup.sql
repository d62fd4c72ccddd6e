--
-- setup: helpers the other regression tests share.
--
-- es_changes() consumes a slot with the volatile fields (xids, LSNs, times)
-- turned off, and casts every event to jsonb: an event that is not valid
-- JSON fails the test with an error.
--
-- es_options() is those defaults and the caller's options, a caller's
-- option taking the place of the default (the plugin refuses an option
-- given twice)
CREATE FUNCTION es_options(options text[]) RETURNS text[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(x ORDER BY o, p), '{}') || options
  FROM (VALUES (1, 'include-xids', '0'), (2, 'include-lsn', '0'),
               (3, 'include-timestamp', '0')) d(o, k, v),
       LATERAL (VALUES (1, k), (2, v)) kv(p, x)
  WHERE k <> ALL (SELECT options[i] FROM generate_subscripts(options, 1) i WHERE i % 2 = 1)
$$;

CREATE FUNCTION es_changes(slot name, VARIADIC options text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT CASE WHEN data::jsonb IS NOT NULL THEN data END
  FROM pg_logical_slot_get_changes(slot, NULL, NULL, VARIADIC es_options(options))
$$;

-- es_peek() is the same without consuming
CREATE FUNCTION es_peek(slot name, VARIADIC options text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT CASE WHEN data::jsonb IS NOT NULL THEN data END
  FROM pg_logical_slot_peek_changes(slot, NULL, NULL, VARIADIC es_options(options))
$$;

-- the output plugin works without CREATE EXTENSION
SELECT 'init' FROM pg_create_logical_replication_slot('setup_slot', 'pg_eventstream');
CREATE TABLE t0(id int PRIMARY KEY, v text);
INSERT INTO t0 VALUES (1, 'one');
SELECT * FROM es_changes('setup_slot');
SELECT pg_drop_replication_slot('setup_slot');
DROP TABLE t0;

-- es_wait_worker_gone() waits until the capture worker of this database has
-- gone (after DROP EXTENSION it drops its slot and origin, a transaction of
-- its own that a test decoding this database would otherwise see)
CREATE PROCEDURE es_wait_worker_gone() LANGUAGE plpgsql AS $$
DECLARE
  deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
  WHILE EXISTS (SELECT 1 FROM pg_stat_activity
                WHERE backend_type = 'pg_eventstream worker'
                  AND datname = current_database())
     OR EXISTS (SELECT 1 FROM pg_replication_origin o, pg_database d
                WHERE d.datname = current_database() AND o.roname = 'eventstream_' || d.oid) LOOP
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'the pg_eventstream worker did not stop';
    END IF;
    COMMIT;
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;
