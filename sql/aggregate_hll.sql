--
-- aggregate_hll: approximate distinct counts through the hll extension
-- (Debian: postgresql-15-hll), when it is installed.  hll_add_agg and
-- hll_union_agg are kept by unioning each batch's sketch into the group's:
-- the view equals the query, sketch for sketch.  They need append_only =>
-- true; a batch that deletes rows fails the aggregate, saying why, and
-- refresh_aggregate mends it.  (Without hll the test stops at once:
-- aggregate_hll_1.out.)
--
SELECT NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'hll') AS hll_missing \gset
\if :hll_missing
\q
\endif
CREATE EXTENSION hll;
CREATE EXTENSION pg_eventstream;
CREATE TABLE visits (id bigserial PRIMARY KEY, day int NOT NULL, visitor bigint, page text);
INSERT INTO visits (day, visitor, page)
  SELECT g % 5, (g * 7919) % 3000, 'p' || (g % 40) FROM generate_series(1, 20000) g;

-- the sketch, its cardinality, and a union of sketches
SELECT eventstream.create_aggregate('daily_visitors', $$
  SELECT day, hll_add_agg(hll_hash_bigint(visitor)) AS visitors,
         hll_cardinality(hll_add_agg(hll_hash_text(page))) AS pages, count(*)
  FROM public.visits GROUP BY day $$, append_only => true);
SELECT eventstream.create_aggregate('all_visitors', $$
  SELECT hll_add_agg(hll_hash_bigint(visitor)) AS visitors FROM public.visits $$,
  append_only => true);

-- refused: not append-only, the forms with parameters, other extensions
\set VERBOSITY default
SELECT eventstream.create_aggregate('bad', $$
  SELECT day, hll_add_agg(hll_hash_bigint(visitor)) FROM public.visits GROUP BY day $$);
SELECT eventstream.create_aggregate('bad', $$
  SELECT day, hll_add_agg(hll_hash_bigint(visitor), 12) FROM public.visits GROUP BY day $$,
  append_only => true);
CREATE FUNCTION my_sum_state(bigint, bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1 + $2';
CREATE AGGREGATE my_sum(bigint) (SFUNC = my_sum_state, STYPE = bigint);
SELECT eventstream.create_aggregate('bad', $$
  SELECT day, my_sum(visitor) FROM public.visits GROUP BY day $$, append_only => true);
\set VERBOSITY terse

-- the view against its query: sketches compared as text
CREATE FUNCTION hll_diff() RETURNS text LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM (
            SELECT day, visitors::text, pages, count FROM daily_visitors
            EXCEPT ALL
            SELECT day, hll_add_agg(hll_hash_bigint(visitor))::text,
                   hll_cardinality(hll_add_agg(hll_hash_text(page))), count(*)
              FROM visits GROUP BY day) d) || '/' ||
         (SELECT count(*) FROM (
            SELECT day, hll_add_agg(hll_hash_bigint(visitor))::text,
                   hll_cardinality(hll_add_agg(hll_hash_text(page))), count(*)
              FROM visits GROUP BY day
            EXCEPT ALL
            SELECT day, visitors::text, pages, count FROM daily_visitors) d) || ' ' ||
         ((SELECT visitors::text FROM all_visitors) IS NOT DISTINCT FROM
          (SELECT hll_add_agg(hll_hash_bigint(visitor))::text FROM visits))
$$;
SELECT hll_diff() AS after_backfill;

-- batches of new rows, new groups and NULLs among them
INSERT INTO visits (day, visitor, page)
  SELECT 3 + g % 4, (g * 104729) % 50000, CASE WHEN g % 9 = 0 THEN NULL ELSE 'q' || (g % 70) END
  FROM generate_series(1, 5000) g;
INSERT INTO visits (day, visitor, page) VALUES (9, NULL, NULL);
BEGIN;
INSERT INTO visits (day, visitor, page) SELECT 1, g, 'r' FROM generate_series(1, 300) g;
ROLLBACK;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT hll_diff() AS after_inserts;
SELECT day, round(hll_cardinality(visitors)) AS visitors, pages, count
  FROM daily_visitors ORDER BY day;
SELECT round(hll_cardinality(visitors)) AS all_visitors FROM all_visitors;

-- a sketch over sketches: hll_union_agg
CREATE TABLE daily_sketches (day int PRIMARY KEY, s hll);
SELECT eventstream.create_aggregate('union_of_days', $$
  SELECT hll_union_agg(s) AS u FROM public.daily_sketches $$, append_only => true);
INSERT INTO daily_sketches SELECT day, hll_add_agg(hll_hash_bigint(visitor)) FROM visits GROUP BY day;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT (SELECT u::text FROM union_of_days) = (SELECT hll_union_agg(s)::text FROM daily_sketches) AS union_equal;

-- a delete without the old row marks the aggregates stale, as for any
-- append-only aggregate; refresh mends them
DELETE FROM visits WHERE id = 1;
INSERT INTO visits (day, visitor, page) VALUES (0, 123456789, 'late');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT name, state, error FROM eventstream.aggregates ORDER BY name::text;
SELECT eventstream.refresh_aggregate('daily_visitors');
SELECT eventstream.refresh_aggregate('all_visitors');
SELECT hll_diff() AS after_refresh;
-- with the old row, a delete or an update to another group cannot be
-- taken out of a sketch: the aggregate fails, saying so, and the others
-- go on; refresh mends it
ALTER TABLE visits REPLICA IDENTITY FULL;
UPDATE visits SET day = 8 WHERE id = 2;
INSERT INTO daily_sketches SELECT 100, hll_add_agg(hll_hash_bigint(g)) FROM generate_series(1, 5000) g;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT name, state, error FROM eventstream.aggregates ORDER BY name::text;
SELECT (SELECT u::text FROM union_of_days) = (SELECT hll_union_agg(s)::text FROM daily_sketches) AS union_still_equal;
SELECT eventstream.refresh_aggregate('daily_visitors');
SELECT eventstream.refresh_aggregate('all_visitors');
SELECT hll_diff() AS after_second_refresh;

SELECT eventstream.drop_aggregate('daily_visitors');
SELECT eventstream.drop_aggregate('all_visitors');
SELECT eventstream.drop_aggregate('union_of_days');
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP TABLE visits, daily_sketches;
DROP FUNCTION hll_diff();
DROP AGGREGATE my_sum(bigint);
DROP FUNCTION my_sum_state(bigint, bigint);
DROP EXTENSION hll;
