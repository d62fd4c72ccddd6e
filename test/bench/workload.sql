-- test/bench/workload.sql - the benchmarks' workload on table "bench":
-- :rows inserts, then :updates updates and :deletes deletes, in
-- transactions of 10,000 rows, then a checkpoint so that all of it is
-- flushed (decoding reads only flushed WAL).
--   psql -v rows=N -v updates=N -v deletes=N -f test/bench/workload.sql
SELECT set_config('bench.rows', :'rows', false),
       set_config('bench.updates', :'updates', false),
       set_config('bench.deletes', :'deletes', false);
DO $$
DECLARE
  n_rows bigint := current_setting('bench.rows')::bigint;
  n_updates bigint := current_setting('bench.updates')::bigint;
  n_deletes bigint := current_setting('bench.deletes')::bigint;
  b bigint;
BEGIN
  FOR b IN 0 .. (n_rows - 1) / 10000 LOOP
    INSERT INTO bench
      SELECT g, g % 100, (g % 10000) / 100.0, 'customer ' || g,
             timestamptz '2026-01-01' + g * interval '1 second', g % 2 = 0,
             jsonb_build_object('sku', g % 500, 'tags', jsonb_build_array('a', 'b')),
             g / 7.0
        FROM generate_series(b * 10000 + 1, least((b + 1) * 10000, n_rows)) g;
    COMMIT;
  END LOOP;
  FOR b IN 0 .. (n_updates - 1) / 10000 LOOP
    UPDATE bench SET qty = qty + 1, price = price * 1.1
     WHERE id BETWEEN b * 10000 + 1 AND least((b + 1) * 10000, n_updates);
    COMMIT;
  END LOOP;
  FOR b IN 0 .. (n_deletes - 1) / 10000 LOOP
    DELETE FROM bench WHERE id BETWEEN n_rows - (b + 1) * 10000 + 1 AND n_rows - b * 10000
                         AND id > n_rows - n_deletes;
    COMMIT;
  END LOOP;
END
$$;
CHECKPOINT;
