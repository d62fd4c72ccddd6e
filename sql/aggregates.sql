--
-- aggregates: create_aggregate, refresh_aggregate, drop_aggregate and the
-- aggregates view; every refused construct and bad argument; what the
-- worker keeps up to date (equality with the query after sync()).
--
CREATE EXTENSION pg_eventstream;
CREATE SCHEMA ag;
SET search_path = ag, public;
CREATE TABLE orders (id int PRIMARY KEY, created_at timestamptz NOT NULL, region text,
                     status text, amount numeric(10,2), qty int, weight float8, took interval);
ALTER TABLE orders REPLICA IDENTITY FULL;
CREATE TABLE other (id int PRIMARY KEY, region text);
CREATE TABLE plain (id int PRIMARY KEY, v int);
CREATE VIEW orders_view AS SELECT * FROM orders;
INSERT INTO orders
SELECT g, timestamptz '2026-01-01 00:00+00' + g * interval '13 s',
       (ARRAY['eu', 'us', NULL])[g % 3 + 1],
       CASE WHEN g % 10 = 0 THEN 'cancelled' ELSE 'ok' END,
       (g % 97) * 1.25, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 7 END, g / 3.0,
       g * interval '1 s'
FROM generate_series(1, 1000) g;

-- equal(view, query): rows of each that the other lacks (0 and 0 when equal)
CREATE FUNCTION equal_to_query(v regclass, q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;
  extra bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL SELECT * FROM %s) d', q, v) INTO missing;
  EXECUTE format('SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL (%s)) d', v, q) INTO extra;
  RETURN format('missing %s, extra %s', missing, extra);
END
$$;

-- bad arguments
SELECT eventstream.create_aggregate(NULL, 'SELECT count(*) FROM orders');
SELECT eventstream.create_aggregate('a', NULL);
SELECT eventstream.create_aggregate('a', 'SELECT count(*) FROM orders', backfill => NULL);
SELECT eventstream.create_aggregate('a', 'SELECT count(*) FROM orders', append_only => NULL);
SELECT eventstream.create_aggregate('a.b.c.d', 'SELECT count(*) FROM orders');
SELECT eventstream.create_aggregate('"unterminated', 'SELECT count(*) FROM orders');
SELECT eventstream.create_aggregate('nosuchschema.a', 'SELECT count(*) FROM orders');
SELECT eventstream.create_aggregate('orders', 'SELECT count(*) FROM orders');
SELECT eventstream.create_aggregate('a', '');
SELECT eventstream.create_aggregate('a', 'SELECT 1; SELECT 2');
SELECT eventstream.create_aggregate('a', 'DELETE FROM orders');
SELECT eventstream.create_aggregate('a', 'SELECT count(* FROM orders');
SELECT eventstream.create_aggregate('a', 'SELECT count(*) FROM no_such_table');
SELECT eventstream.create_aggregate('a', 'SELECT no_such_column, count(*) FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT id, amount FROM orders');
SELECT eventstream.refresh_aggregate(NULL);
SELECT eventstream.refresh_aggregate('orders');
SELECT eventstream.drop_aggregate('orders');
SELECT eventstream.drop_aggregate('no_such_view');

-- unsupported constructs: each named, with a hint
\set VERBOSITY default
SELECT eventstream.create_aggregate('a', 'SELECT o.region, count(*) FROM orders o JOIN other x USING (id) GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT o.region, count(*) FROM orders o, other x GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT DISTINCT region, count(*) FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, sum(DISTINCT qty) FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(DISTINCT amount) FROM orders GROUP BY 1');
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT eventstream.create_aggregate('a', 'SELECT count(DISTINCT status COLLATE ci) FROM orders');
DROP COLLATION ci;
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*), rank() OVER () FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders WHERE amount > random() GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders WHERE id IN (SELECT id FROM other) GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM (SELECT * FROM orders) s GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders GROUP BY 1 ORDER BY 2');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders GROUP BY 1 LIMIT 3');
SELECT eventstream.create_aggregate('a', 'SELECT region, string_agg(status, '','') FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FILTER (WHERE qty > 1) FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders GROUP BY ROLLUP (region)');
SELECT eventstream.create_aggregate('a', 'WITH o AS (SELECT * FROM orders) SELECT region, count(*) FROM o GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders GROUP BY 1 UNION ALL SELECT region, count(*) FROM other GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders_view GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT count(*) FROM ONLY orders');
SELECT eventstream.create_aggregate('a', 'SELECT count(*) FROM generate_series(1, 3)');
SELECT eventstream.create_aggregate('a', 'SELECT region, generate_series(1, count(*)) FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT ctid, count(*) FROM orders GROUP BY 1');
SELECT eventstream.create_aggregate('a', 'SELECT count(*) FROM eventstream.stream_catalog');
SELECT eventstream.create_aggregate('a', 'SELECT count(*) FROM pg_class');
SELECT eventstream.create_aggregate('a', 'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY qty) FROM orders');
SELECT eventstream.create_aggregate('a', 'SELECT region, count(*) FROM orders GROUP BY 1 FOR UPDATE');
-- updates and deletes need the old row
SELECT eventstream.create_aggregate('a', 'SELECT v, count(*) FROM plain GROUP BY 1');
-- nothing was left behind by any of them
SELECT count(*) FROM eventstream.aggregate_catalog;
SELECT count(*) FROM pg_class WHERE relnamespace = 'eventstream'::regnamespace AND relname ~ '^aggregate_[0-9]+$';
\set VERBOSITY terse

-- the example of the spec, every supported aggregate, NULL group keys
SELECT eventstream.create_aggregate('orders_per_minute', $$
  SELECT date_bin('1 minute', created_at, timestamptz '2000-01-01') AS minute, region,
         count(*) AS orders, sum(amount) AS revenue, avg(amount), min(amount), max(amount),
         count(qty) AS with_qty, sum(qty) AS qty, avg(qty) AS avg_qty, min(status) AS first_status, max(took) AS longest,
         avg(took) AS avg_took
  FROM orders WHERE status <> 'cancelled' GROUP BY 1, 2 $$);
-- no GROUP BY: one row, even for no rows
SELECT eventstream.create_aggregate('ag.totals',
  'SELECT count(*), sum(amount), min(amount), max(qty) FROM orders WHERE region = ''eu''');
-- HAVING, expressions over aggregates and group keys
SELECT eventstream.create_aggregate('big_regions', $$
  SELECT upper(region) AS region, count(*) * 2 AS twice, sum(qty) / nullif(count(qty), 0) AS ratio
  FROM orders GROUP BY region HAVING count(*) > 300 AND max(amount) > 10 $$);
\d+ orders_per_minute
SELECT name, source, state, error, append_only, groups, materialization FROM eventstream.aggregates ORDER BY 1;
SELECT equal_to_query('orders_per_minute', $$
  SELECT date_bin('1 minute', created_at, timestamptz '2000-01-01') AS minute, region,
         count(*) AS orders, sum(amount) AS revenue, avg(amount), min(amount), max(amount),
         count(qty) AS with_qty, sum(qty) AS qty, avg(qty) AS avg_qty, min(status) AS first_status, max(took) AS longest,
         avg(took) AS avg_took
  FROM orders WHERE status <> 'cancelled' GROUP BY 1, 2 $$);
SELECT * FROM totals;
SELECT * FROM big_regions ORDER BY 1;

-- changes of every kind, then sync(): each view equals its query
INSERT INTO orders SELECT g, timestamptz '2026-01-01 00:00+00' + g * interval '7 s', 'asia', 'ok', g % 11, g % 3, 0, '1 h'
FROM generate_series(1001, 1300) g;
UPDATE orders SET amount = amount + 1 WHERE id % 7 = 0;
UPDATE orders SET region = CASE WHEN region IS NULL THEN 'eu' ELSE NULL END WHERE id % 11 = 0;
UPDATE orders SET status = 'cancelled' WHERE id % 13 = 0;
UPDATE orders SET status = 'ok' WHERE id % 17 = 0;
UPDATE orders SET qty = NULL WHERE id % 3 = 0;
UPDATE orders SET qty = 5 WHERE id % 19 = 0 AND qty IS NULL;
DELETE FROM orders WHERE id % 5 = 0;
-- delete the current extremes of every group
DELETE FROM orders o USING (SELECT date_bin('1 minute', created_at, timestamptz '2000-01-01') AS m, region,
                                   max(amount) AS hi, min(amount) AS lo
                            FROM orders GROUP BY 1, 2) e
 WHERE date_bin('1 minute', o.created_at, timestamptz '2000-01-01') = e.m
   AND o.region IS NOT DISTINCT FROM e.region AND o.amount IN (e.hi, e.lo);
-- a rolled-back transaction and a rolled-back savepoint change nothing
BEGIN;
DELETE FROM orders WHERE region = 'eu';
ROLLBACK;
BEGIN;
INSERT INTO orders VALUES (5000, '2026-01-01', 'eu', 'ok', 1000, 1, 0, '1 s');
SAVEPOINT s;
UPDATE orders SET amount = 0 WHERE id = 5000;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT equal_to_query('orders_per_minute', $$
  SELECT date_bin('1 minute', created_at, timestamptz '2000-01-01') AS minute, region,
         count(*) AS orders, sum(amount) AS revenue, avg(amount), min(amount), max(amount),
         count(qty) AS with_qty, sum(qty) AS qty, avg(qty) AS avg_qty, min(status) AS first_status, max(took) AS longest,
         avg(took) AS avg_took
  FROM orders WHERE status <> 'cancelled' GROUP BY 1, 2 $$);
SELECT equal_to_query('totals', 'SELECT count(*), sum(amount), min(amount), max(qty) FROM orders WHERE region = ''eu''');
SELECT equal_to_query('big_regions', $$
  SELECT upper(region) AS region, count(*) * 2 AS twice, sum(qty) / nullif(count(qty), 0) AS ratio
  FROM orders GROUP BY region HAVING count(*) > 300 AND max(amount) > 10 $$);

-- groups that empty disappear, and come back
DELETE FROM orders WHERE region IS NULL;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT count(*) AS null_region_groups FROM orders_per_minute WHERE region IS NULL;
INSERT INTO orders VALUES (6000, '2026-01-01 00:00:30+00', NULL, 'ok', 3, NULL, 0, '2 s');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT minute, region, orders, revenue, min, max, with_qty, avg_qty FROM orders_per_minute WHERE region IS NULL;
-- the no-GROUP-BY row stays, with the values of no rows
DELETE FROM orders WHERE region = 'eu';
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT * FROM totals;

-- TRUNCATE empties, then new rows count again
TRUNCATE orders;
INSERT INTO orders VALUES (1, '2026-01-01', 'eu', 'ok', 2, 1, 0, '1 s'), (2, '2026-01-01', 'eu', 'ok', 4, NULL, 0, '3 s');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT minute, region, orders, revenue, avg, min, max, with_qty, qty, avg_qty, avg_took FROM orders_per_minute;
SELECT * FROM totals;

-- the view depends on the columns the query uses, as a view would
ALTER TABLE orders DROP COLUMN amount;
ALTER TABLE orders ALTER COLUMN qty TYPE bigint;
-- a column it does not use can go; the worker takes the rows of the new shape
DROP VIEW orders_view;
ALTER TABLE orders DROP COLUMN weight;
INSERT INTO orders VALUES (3, '2026-01-01', 'eu', 'ok', 6, 2, '5 s');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT minute, region, orders, revenue, with_qty, qty FROM orders_per_minute;
-- its table can't be dropped alone
DROP TABLE eventstream.aggregate_1;

-- REPLICA IDENTITY no longer FULL: updates arrive without the old row, and
-- the aggregate says it is stale until refreshed
ALTER TABLE orders REPLICA IDENTITY DEFAULT;
UPDATE orders SET qty = 7 WHERE id = 1;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT name, state, error FROM eventstream.aggregates ORDER BY 1;
ALTER TABLE orders REPLICA IDENTITY FULL;
SELECT eventstream.refresh_aggregate('orders_per_minute');
SELECT eventstream.refresh_aggregate('totals');
SELECT eventstream.refresh_aggregate('big_regions');
SELECT name, state, error FROM eventstream.aggregates ORDER BY 1;
SELECT minute, region, orders, with_qty, qty FROM orders_per_minute;
-- refresh cannot see an older snapshot than its lock
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT eventstream.refresh_aggregate('totals');
ROLLBACK;

-- append_only: a table without REPLICA IDENTITY FULL that is only inserted into
SELECT eventstream.create_aggregate('plain_counts', 'SELECT v % 3 AS k, count(*), sum(v) FROM plain GROUP BY 1',
                                    append_only => true);
INSERT INTO plain SELECT g, g FROM generate_series(1, 30) g;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT * FROM plain_counts ORDER BY k;
DELETE FROM plain WHERE id = 1;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT name, state FROM eventstream.aggregates WHERE name = 'plain_counts'::regclass;
-- backfill => false: only rows from now on
SELECT eventstream.create_aggregate('plain_new', 'SELECT count(*) FROM plain', backfill => false, append_only => true);
INSERT INTO plain VALUES (100, 1);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT * FROM plain_new;

-- a partitioned table: changes of every partition, under the root's columns
CREATE TABLE events (id int, day date NOT NULL, kind text, n int) PARTITION BY RANGE (day);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE events_2 (kind text, n int, day date NOT NULL, id int);  -- other column order
ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
ALTER TABLE events_1 REPLICA IDENTITY FULL;
SELECT eventstream.create_aggregate('events_by_kind', 'SELECT kind, count(*), sum(n), max(day) FROM events GROUP BY 1');
ALTER TABLE events_2 REPLICA IDENTITY FULL;
SELECT eventstream.create_aggregate('events_by_kind', 'SELECT kind, count(*), sum(n), max(day) FROM events GROUP BY 1');
INSERT INTO events SELECT g, date '2026-01-01' + g % 50, 'k' || g % 3, g FROM generate_series(1, 300) g;
UPDATE events SET day = day + 20 WHERE id % 4 = 0 AND day < '2026-02-05';  -- rows move across partitions
DELETE FROM events WHERE id % 5 = 0;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT equal_to_query('events_by_kind', 'SELECT kind, count(*), sum(n), max(day) FROM events GROUP BY 1');

-- an aggregate whose maintenance fails is marked failed, and the rest goes on
CREATE TABLE ratios (id int PRIMARY KEY, v int);
ALTER TABLE ratios REPLICA IDENTITY FULL;
INSERT INTO ratios VALUES (1, 4), (2, 5);
SELECT eventstream.create_aggregate('inverse', 'SELECT sum(100 / v) FROM ratios');
INSERT INTO ratios VALUES (3, 0);
INSERT INTO events VALUES (1000, '2026-01-05', 'k0', 1);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT name, state, error FROM eventstream.aggregates WHERE name = 'inverse'::regclass;
SELECT equal_to_query('events_by_kind', 'SELECT kind, count(*), sum(n), max(day) FROM events GROUP BY 1');
-- refresh computes it as the caller: the same error, then fine once the row is gone
SELECT eventstream.refresh_aggregate('inverse');
DELETE FROM ratios WHERE v = 0;
SELECT eventstream.refresh_aggregate('inverse');
INSERT INTO ratios VALUES (4, 10);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT name, state, error FROM eventstream.aggregates WHERE name = 'inverse'::regclass;
SELECT * FROM inverse;
SELECT eventstream.drop_aggregate('inverse');
SELECT eventstream.drop_aggregate('events_by_kind');
DROP TABLE events, ratios;

-- privileges: SELECT on the table to create; the owner refreshes and drops
CREATE ROLE ag_reader;
GRANT USAGE ON SCHEMA ag, eventstream TO ag_reader;
GRANT CREATE ON SCHEMA ag TO ag_reader;
SET ROLE ag_reader;
SELECT eventstream.create_aggregate('mine', 'SELECT region, count(*) FROM other GROUP BY 1');
SELECT eventstream.refresh_aggregate('orders_per_minute');
SELECT eventstream.drop_aggregate('orders_per_minute');
RESET ROLE;
GRANT SELECT ON other TO ag_reader;
ALTER TABLE other REPLICA IDENTITY FULL;
SET ROLE ag_reader;
SELECT eventstream.create_aggregate('mine', 'SELECT region, count(*) FROM other GROUP BY 1');
RESET ROLE;
INSERT INTO other VALUES (1, 'x'), (2, 'x'), (3, NULL);
SELECT eventstream.sync() IS NOT NULL AS synced;
SET ROLE ag_reader;
SELECT * FROM mine ORDER BY 1;
SELECT eventstream.refresh_aggregate('mine');
RESET ROLE;

-- a table in a stream and an aggregate at once: both get every change
SELECT eventstream.create_stream('other_changes', '{other}');
INSERT INTO other VALUES (4, 'y'), (5, 'x');
UPDATE other SET region = 'y' WHERE id = 1;
DELETE FROM other WHERE id = 2;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT op, key FROM eventstream.read('other_changes', 0, 100) ORDER BY id;
SELECT * FROM mine ORDER BY 1;
SELECT eventstream.drop_stream('other_changes');
SET ROLE ag_reader;
SELECT eventstream.drop_aggregate('mine');
RESET ROLE;

-- dropping: drop_aggregate, DROP VIEW, and a DROP TABLE ... CASCADE of the source
SELECT eventstream.drop_aggregate('plain_new');
DROP VIEW plain_counts;
DROP TABLE orders;
DROP TABLE orders CASCADE;
SELECT name FROM eventstream.aggregates ORDER BY 1;
SELECT count(*) FROM pg_class WHERE relnamespace = 'eventstream'::regnamespace AND relname ~ '^aggregate_[0-9]+$';

-- DROP EXTENSION with an aggregate left: refused, then a clean cascade
SELECT eventstream.create_aggregate('last_one', 'SELECT region, count(*) FROM other GROUP BY 1');
DROP EXTENSION pg_eventstream;
DROP EXTENSION pg_eventstream CASCADE;
CALL es_wait_worker_gone();
SELECT count(*) FROM pg_class WHERE relname IN ('last_one', 'aggregate_7');
DROP SCHEMA ag CASCADE;
RESET search_path;
DROP OWNED BY ag_reader;
DROP ROLE ag_reader;
