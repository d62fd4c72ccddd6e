--
-- setup: helpers the other regression tests share.
--
-- es_changes() consumes a slot with the volatile fields (xids, LSNs, times)
-- turned off, and casts every event to jsonb: an event that is not valid
-- JSON fails the test with an error.
--
CREATE FUNCTION es_changes(slot name, VARIADIC options text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT CASE WHEN data::jsonb IS NOT NULL THEN data END
  FROM pg_logical_slot_get_changes(slot, NULL, NULL,
         VARIADIC ARRAY['include-xids', '0', 'include-lsn', '0',
                        'include-timestamp', '0'] || options)
$$;

-- es_peek() is the same without consuming
CREATE FUNCTION es_peek(slot name, VARIADIC options text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT CASE WHEN data::jsonb IS NOT NULL THEN data END
  FROM pg_logical_slot_peek_changes(slot, NULL, NULL,
         VARIADIC ARRAY['include-xids', '0', 'include-lsn', '0',
                        'include-timestamp', '0'] || options)
$$;

-- the output plugin works without CREATE EXTENSION
SELECT 'init' FROM pg_create_logical_replication_slot('setup_slot', 'pg_eventstream');
CREATE TABLE t0(id int PRIMARY KEY, v text);
INSERT INTO t0 VALUES (1, 'one');
SELECT * FROM es_changes('setup_slot');
SELECT pg_drop_replication_slot('setup_slot');
DROP TABLE t0;
