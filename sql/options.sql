--
-- options: every plugin option, and the errors for bad ones.
--
SELECT 'init' FROM pg_create_logical_replication_slot('opts', 'pg_eventstream');

CREATE SCHEMA sales;
CREATE SCHEMA "odd.schema";
CREATE TABLE public.orders(id int PRIMARY KEY, amount numeric);
CREATE TABLE public.order_items(id int PRIMARY KEY, order_id int);
CREATE TABLE sales.orders(id int PRIMARY KEY);
CREATE TABLE sales.refunds(id int PRIMARY KEY);
CREATE TABLE "odd.schema"."we*ird,name"(id int PRIMARY KEY);
CREATE TABLE public.plain(id int PRIMARY KEY);

CREATE FUNCTION fill() RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.orders VALUES (1, 9.99);
  INSERT INTO public.order_items VALUES (1, 1);
  INSERT INTO sales.orders VALUES (1);
  INSERT INTO sales.refunds VALUES (1);
  INSERT INTO "odd.schema"."we*ird,name" VALUES (1);
  INSERT INTO public.plain VALUES (1);
  UPDATE public.orders SET amount = 10;
  DELETE FROM public.order_items;
  TRUNCATE public.plain;
$$;
SELECT fill();

-- tables: names, wildcards in either part, escapes
CREATE FUNCTION tables_of(VARIADIC options text[]) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(DISTINCT (data::jsonb->>'schema') || '.' || (data::jsonb->>'table'), ' ')
  FROM es_peek('opts', VARIADIC options) AS data
$$;
SELECT tables_of('tables', 'public.orders');
SELECT tables_of('tables', 'public.orders, sales.refunds');
SELECT tables_of('tables', 'sales.*');
SELECT tables_of('tables', '*.orders');
SELECT tables_of('tables', 'public.order*');
SELECT tables_of('tables', '*.*');
SELECT tables_of('tables', 'odd\.schema.we\*ird\,name');
SELECT tables_of('tables', 'odd\.schema.we*');
SELECT tables_of('exclude-tables', 'public.*');
SELECT tables_of('tables', 'public.*', 'exclude-tables', 'public.order_items, public.plain');
SELECT tables_of('tables', 'nomatch.*');

-- operations
SELECT string_agg(data::jsonb->>'op', ',') FROM es_peek('opts', 'operations', 'update, delete') AS data;
SELECT string_agg(data::jsonb->>'op', ',') FROM es_peek('opts', 'operations', 'INSERT,truncate') AS data;

-- include-xids, include-lsn, include-timestamp: on by default
SELECT data::jsonb ? 'xid' AS xid, data::jsonb ? 'lsn' AS lsn,
       data::jsonb ? 'commit_lsn' AS commit_lsn, data::jsonb ? 'commit_time' AS commit_time,
       (data::jsonb->>'commit_lsn')::pg_lsn >= (data::jsonb->>'lsn')::pg_lsn AS commit_after_change,
       (data::jsonb->>'commit_time')::timestamptz BETWEEN now() - interval '1 hour' AND now() AS recent_time,
       data::jsonb->>'commit_time' LIKE '____-__-__T__:__:__%Z' AS iso_utc
  FROM pg_logical_slot_peek_changes('opts', NULL, 1) AS c(lsn, xid, data);
-- xid is the transaction's, keys come in the documented order
SELECT (data::jsonb->>'xid')::xid = c.xid AS xid_matches,
       regexp_replace(data, '"(xid|lsn|commit_lsn|commit_time)":[^,]*,', '', 'g') AS rest
  FROM pg_logical_slot_peek_changes('opts', NULL, 1, 'tables', 'public.orders') AS c(lsn, xid, data);

-- include-schema: before a relation's first change and after it changes
SELECT * FROM es_peek('opts', 'include-schema', 'on', 'tables', 'public.orders, public.order_items');

-- pretty
SELECT * FROM es_peek('opts', 'pretty', '1', 'tables', 'public.order_items', 'operations', 'insert');

-- format=debezium
SELECT * FROM es_peek('opts', 'format', 'debezium', 'tables', 'public.orders, public.plain');
SELECT regexp_replace(data, '"id":"\d+:\d+"', '"id":"<xid>:<commit_lsn>"', 'g')
  FROM es_peek('opts', 'format', 'debezium', 'tables', 'sales.refunds', 'include-transaction', '1') AS data;
-- with the volatile fields on: ts_ms, txId and the integer lsn are there
SELECT (data::jsonb->'source'->>'lsn')::numeric > 0 AS lsn, data::jsonb->'source' ? 'txId' AS txid,
       (data::jsonb->>'ts_ms')::bigint >= (data::jsonb->'source'->>'ts_ms')::bigint AS ts_order,
       data::jsonb->'source'->>'sequence' ~ '^\["\d+","\d+"\]$' AS sequence
  FROM pg_logical_slot_peek_changes('opts', NULL, 1, 'format', 'debezium') AS c(lsn, xid, data);

-- format=cloudevents; the id holds the commit LSN, so mask it
SELECT regexp_replace(data, '"id":"[0-9A-F]+/[0-9A-F]+:', '"id":"<commit_lsn>:') AS event
  FROM es_peek('opts', 'format', 'cloudevents', 'tables', 'public.orders') AS data;
SELECT regexp_replace(data, '"id":"[0-9A-F]+/[0-9A-F]+:', '"id":"<commit_lsn>:') AS event
  FROM es_peek('opts', 'format', 'cloudevents', 'tables', 'sales.refunds',
               'source', 'urn:shop', 'type-prefix', 'com.example.cdc') AS data;
-- the id is "<commit_lsn>:<seq>", unique, and time is the commit time
SELECT count(*) AS events,
       count(*) FILTER (WHERE data::jsonb->>'id' = split_part(data::jsonb->>'id', ':', 1) || ':' || n) AS seq_ids,
       count(DISTINCT data::jsonb->>'id') AS distinct_ids,
       count(*) FILTER (WHERE data::jsonb->>'time' LIKE '____-__-__T%Z') AS utc_times
  FROM (SELECT data, row_number() OVER () AS n
          FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', 'cloudevents')) AS c;

-- bad options: errors name the option and what it accepts
SELECT * FROM es_peek('opts', 'no-such-option', '1');
SELECT * FROM es_peek('opts', 'format', 'avro');
SELECT * FROM es_peek('opts', 'include-transaction', 'maybe');
SELECT * FROM es_peek('opts', 'operations', 'insert,upsert');
SELECT * FROM es_peek('opts', 'operations', '');
SELECT * FROM es_peek('opts', 'tables', 'orders');
SELECT * FROM es_peek('opts', 'tables', 'a.b.c');
SELECT * FROM es_peek('opts', 'tables', 'public.');
SELECT * FROM es_peek('opts', 'tables', 'public.x\');
SELECT * FROM es_peek('opts', 'type-prefix', '');
SELECT * FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'format', NULL);

SELECT 'consumed' FROM es_changes('opts') LIMIT 1;
SELECT pg_drop_replication_slot('opts');
