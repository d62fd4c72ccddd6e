--
-- backfill: create_stream(..., backfill => true) puts the rows already in
-- the tables into the stream as "snapshot" events, in primary key order
-- and in chunks, with progress in eventstream.backfills.
--
CREATE EXTENSION pg_eventstream;
CREATE SCHEMA bf;
CREATE TABLE bf.items (id int PRIMARY KEY, name text, price numeric, data bytea);
CREATE TABLE bf.parts (a int, b text, qty int, PRIMARY KEY (a, b));
CREATE TABLE bf.nokey (x int);
INSERT INTO bf.items SELECT g, 'item ' || g, g * 1.5, '\xff' FROM generate_series(1, 7) g;
INSERT INTO bf.parts VALUES (1, 'x', 1), (1, 'y', 2), (2, 'x', 3);

-- a table without a primary key cannot be backfilled; nothing is created
SELECT eventstream.create_stream('bf_bad', '{bf.*}', backfill => true);
SELECT count(*) AS streams FROM eventstream.streams;

ALTER SYSTEM SET eventstream.backfill_chunk_size = 3;
SELECT pg_reload_conf();
-- (the worker reads the setting when it handles the reload, which a
-- freshly started worker still making its slot may do late)
SELECT pg_sleep(1);
SELECT eventstream.create_stream('bf_items', '{bf.items, bf.parts}', backfill => true);
CREATE PROCEDURE wait_backfills() LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
	WHILE EXISTS (SELECT 1 FROM eventstream.backfills WHERE state <> 'done') LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'backfill did not finish';
		END IF;
		COMMIT;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;
CALL wait_backfills();
SELECT stream, schema_name, table_name, state, rows_done, chunks
  FROM eventstream.backfills ORDER BY table_name;
SELECT op, table_name, key, new, xid IS NULL AS no_xid
  FROM eventstream.read('bf_items') ORDER BY id;
-- changes after the backfill follow it
UPDATE bf.items SET price = 0 WHERE id = 1;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT op, key, new->'price' AS price FROM eventstream.read('bf_items')
 WHERE op <> 'snapshot';
-- backfill() again while the worker is caught up and has found no
-- backfill left: it must look again (the call touches the stream's row)
SELECT eventstream.backfill('bf_items');
CALL wait_backfills();
SELECT count(*) FILTER (WHERE op = 'snapshot') AS snapshots,
	   min(id) = 1 AND max(id) = count(*) AS ids_dense
  FROM eventstream.read('bf_items');
ALTER SYSTEM RESET eventstream.backfill_chunk_size;
SELECT pg_reload_conf();

DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP SCHEMA bf CASCADE;
