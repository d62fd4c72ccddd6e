--
-- streams: create_stream, drop_stream, emit, read and stream views, as the
-- worker fills the log.  sync() makes every read see what was committed.
--
CREATE EXTENSION pg_eventstream;
-- a schema of its own: other tests leave tables behind in public
CREATE SCHEMA st;
SET search_path = st, public;
CREATE TABLE orders (id int PRIMARY KEY, amount numeric, note text, data bytea);
CREATE TABLE items (order_id int, sku text, PRIMARY KEY (order_id, sku));
CREATE VIEW order_view AS SELECT * FROM orders;
CREATE SEQUENCE order_seq;

-- bad arguments: a clear error each, and nothing created
SELECT eventstream.create_stream(NULL, '{orders}');
SELECT eventstream.create_stream('s', NULL);
SELECT eventstream.create_stream('s', '{orders}', operations => NULL);
SELECT eventstream.create_stream('', '{orders}');
SELECT eventstream.create_stream('x; DROP TABLE orders; --', '{orders}');
SELECT eventstream.create_stream(repeat('n', 64), '{orders}');
SELECT eventstream.create_stream('s', '{}');
SELECT eventstream.create_stream('s', '{orders, NULL}');
SELECT eventstream.create_stream('s', '{no_such_table}');
SELECT eventstream.create_stream('s', '{order_view}');
SELECT eventstream.create_stream('s', '{order_seq}');
SELECT eventstream.create_stream('s', '{"orders; DROP TABLE orders"}');
SELECT eventstream.create_stream('s', '{eventstream.stream_catalog}');
SELECT eventstream.create_stream('s', '{eventstream.*}');
SELECT eventstream.create_stream('s', '{nosuchschema.*}');
SELECT eventstream.create_stream('s', '{"public.a\\"}');
SELECT eventstream.create_stream('s', '{orders}', operations => '{}');
SELECT eventstream.create_stream('s', '{orders}', operations => '{insert,upsert}');
SELECT eventstream.create_stream('s', '{orders}', operations => '{insert,NULL}');
SELECT eventstream.create_stream('s', '{orders}', retention => '0 s');
SELECT eventstream.create_stream('s', '{orders}', retention => '-1 day');
SELECT eventstream.create_stream('s', '{orders}', backfill => NULL);
SELECT count(*) AS streams_after_errors FROM eventstream.streams;

SELECT eventstream.create_stream('orders', '{st.orders, items}');
SELECT eventstream.create_stream('orders', '{orders}');
-- inserts only, and a pattern that matches tables created later
SELECT eventstream.create_stream('new_orders', '{orders}', operations => '{insert}');
CREATE SCHEMA sales;
SELECT eventstream.create_stream('sales', '{sales.*}', retention => '7 days');
SELECT name, tables, operations, retention, last_id FROM eventstream.streams ORDER BY name;

-- changes: one transaction of several tables, a rollback, a savepoint
INSERT INTO orders VALUES (1, 10.50, 'first', '\x0102');
BEGIN;
INSERT INTO orders VALUES (2, 20, 'second', NULL);
INSERT INTO items VALUES (2, 'apple'), (2, 'pear');
UPDATE orders SET amount = 21 WHERE id = 2;
COMMIT;
BEGIN;
INSERT INTO orders VALUES (3, 30, 'rolled back', NULL);
ROLLBACK;
BEGIN;
INSERT INTO orders VALUES (4, 40, 'kept', NULL);
SAVEPOINT s1;
INSERT INTO orders VALUES (5, 50, 'rolled back to savepoint', NULL);
ROLLBACK TO SAVEPOINT s1;
DELETE FROM items WHERE sku = 'pear';
COMMIT;
CREATE TABLE sales.invoices (id int PRIMARY KEY, total numeric);
INSERT INTO sales.invoices VALUES (100, 9.99);
TRUNCATE items;
SELECT eventstream.emit('orders', '{"type": "refund", "order": 42}', key => '42') IS NOT NULL AS emitted;
BEGIN;
SELECT eventstream.emit('orders', '{"never": "seen"}') IS NOT NULL AS emitted_then_rolled_back;
ROLLBACK;
SELECT eventstream.sync() IS NOT NULL AS synced;

-- ids are dense, in commit order, a transaction's events contiguous
SELECT id, op, schema_name, table_name, key, old, new, seq
  FROM eventstream.read('orders');
SELECT count(DISTINCT xid) = count(DISTINCT commit_lsn) AS xid_per_commit,
       bool_and(lsn IS NOT NULL AND commit_time IS NOT NULL) AS have_positions
  FROM eventstream.read('orders');
-- transactions never interleave: each xid's ids form one run
SELECT bool_and(run_ids = max_id - min_id + 1) AS contiguous FROM (
  SELECT xid, count(*) AS run_ids, min(id) AS min_id, max(id) AS max_id
  FROM eventstream.read('orders') GROUP BY xid) t;
SELECT id, op, key, new FROM eventstream.read('new_orders');
SELECT id, op, schema_name, table_name, new FROM eventstream.read('sales');
-- paging by id
SELECT id FROM eventstream.read('orders', after_id => 3, max_events => 2);
SELECT last_id FROM eventstream.streams WHERE name = 'orders';

-- read: bad arguments
SELECT * FROM eventstream.read('no_such_stream');
SELECT * FROM eventstream.read(NULL);
SELECT * FROM eventstream.read('orders', after_id => -1);
SELECT * FROM eventstream.read('orders', max_events => 0);
SELECT eventstream.emit('no_such_stream', '{}');
SELECT eventstream.emit('orders', NULL);

-- a stream view: old and new are rows of the table's type
SELECT eventstream.create_stream_view('order_changes', 'orders', 'st.orders');
SELECT id, op, (new).id AS new_id, (new).amount, (new).data, (old).amount AS old_amount
  FROM order_changes ORDER BY id;
ALTER TABLE orders REPLICA IDENTITY FULL;
UPDATE orders SET amount = 41 WHERE id = 4;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT id, op, (new).amount, (old).amount AS old_amount, (old).note AS old_note
  FROM order_changes WHERE op = 'update' ORDER BY id;
CREATE SCHEMA views;
SELECT eventstream.create_stream_view('views.item_changes', 'orders', 'items');
SELECT op, (new).sku FROM views.item_changes ORDER BY id;
\set VERBOSITY terse
SELECT eventstream.create_stream_view('order_changes', 'orders', 'orders');
\set VERBOSITY default
SELECT eventstream.create_stream_view('v2', 'no_such_stream', 'orders');
SELECT eventstream.create_stream_view('v2', 'orders', 'no_such_table');
SELECT eventstream.create_stream_view('bad"; DROP TABLE orders; --', 'orders', 'orders');
SELECT eventstream.create_stream_view(NULL, 'orders', 'orders');
SELECT count(*) AS orders_still_there FROM orders;

-- the worker's own writes never enter a stream, even one of all tables
SELECT eventstream.create_stream('everything', '{*.*}');
INSERT INTO items VALUES (7, 'plum');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT eventstream.sync() IS NOT NULL AS synced_again;
SELECT schema_name, table_name, op FROM eventstream.read('everything');

-- status
SELECT pid IS NOT NULL AS running, slot_name LIKE 'eventstream\_%' AS slot,
       applied_lsn IS NOT NULL AS applied, events_total > 0 AS counted,
       lag_bytes >= 0 AS lag_known, retained_wal_bytes >= 0 AS retained_known
  FROM eventstream.status;

-- drop_stream removes the stream and its segments
SELECT eventstream.drop_stream('new_orders');
SELECT eventstream.drop_stream('new_orders');
SELECT eventstream.drop_stream(NULL);
SELECT * FROM eventstream.read('new_orders');
SELECT count(*) AS segments FROM pg_inherits WHERE inhparent = 'eventstream.event_log'::regclass;
SELECT name FROM eventstream.streams ORDER BY name;

DROP EXTENSION pg_eventstream CASCADE;
CALL es_wait_worker_gone();
DROP SCHEMA sales CASCADE;
DROP SCHEMA views CASCADE;
DROP SCHEMA st CASCADE;
RESET search_path;
