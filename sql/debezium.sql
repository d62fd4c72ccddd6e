--
-- debezium: format=debezium as Debezium's PostgreSQL connector writes it
-- (JSON converter, schemas disabled, default settings): each common type's
-- value checked against a reference computed here, Debezium's own option
-- names, key changes as delete and create, typed placeholders, and
-- transaction metadata.
--
SELECT 'init' FROM pg_create_logical_replication_slot('dbz', 'pg_eventstream');

-- the value of Debezium's Decimal: big-endian two's complement bytes of
-- the unscaled value, base64
CREATE FUNCTION dbz_decimal(b64 text, scale int) RETURNS numeric LANGUAGE sql AS $$
  SELECT (sum(get_byte(b, i) * 256::numeric ^ (length(b) - 1 - i))
          - CASE WHEN get_byte(b, 0) >= 128 THEN 256::numeric ^ length(b) ELSE 0 END)
         / 10::numeric ^ scale
    FROM (SELECT decode(b64, 'base64') AS b) x, generate_series(0, length(b) - 1) i
  GROUP BY b
$$;

CREATE TABLE dbz_types (
	id int PRIMARY KEY, b bool, i2 int2, i8 int8, f8 float8,
	n numeric(12,3), nv numeric, m money,
	d date, t time, t3 time(3), ts timestamp, ts3 timestamp(3), tstz timestamptz,
	ttz timetz, iv interval, j json, jb jsonb, by bytea, u uuid, bit1 bit(1),
	ia int[], na numeric(6,2)[], txt text);
SET TimeZone = 'Asia/Kolkata';
INSERT INTO dbz_types VALUES
	(1, true, -3, 9007199254740993, 1.5,
	 -1234.5, 0.000123, '12.34',
	 '2026-11-24', '08:49:33.905123', '08:49:33.905', '2026-11-24 08:49:33.905123',
	 '2026-11-24 08:49:33.905', '2026-11-24 08:49:33.905123+05:30',
	 '08:49:33.5+02', '1 year 2 months 3 days 04:05:06.78', '{"a": [1, 2]}', '{"a": [1, 2]}',
	 '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', B'1',
	 '{1,NULL,3}', '{1.5,-2.25}', 'text'),
	(2, false, 0, -1, 'NaN',
	 0, -98765432109876543210.5, '-0.01',
	 '1969-12-31', '00:00:00', '23:59:59.999', '1969-12-31 23:59:59.999999',
	 '1900-01-01 00:00:00', '1970-01-01 00:00:00+00',
	 '00:30:00-01', '-1 day -00:00:01', 'null', 'null',
	 '\x', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', B'0',
	 '{}', '{}', '');
RESET TimeZone;
CREATE TEMP TABLE dbz_out AS
  SELECT es_changes::jsonb AS e FROM es_changes('dbz', 'format', 'debezium', 'tables', 'public.dbz_types');
-- each value against what Debezium writes for the type
SELECT r.id,
       (a->>'b')::bool = r.b AS bool,
       (a->>'i8')::int8 = r.i8 AS int8,
       dbz_decimal(a->>'n', 3) = r.n AS decimal_scale_3,
       dbz_decimal(a->'nv'->>'value', (a->'nv'->>'scale')::int) = r.nv AS variable_scale,
       dbz_decimal(a->>'m', 2) = r.m::numeric AS money,
       (a->>'d')::int = r.d - date '1970-01-01' AS date_days,
       (a->>'t')::int8 = (extract(epoch FROM r.t) * 1000000)::int8 AS time_micros,
       (a->>'t3')::int8 = (extract(epoch FROM r.t3) * 1000)::int8 AS time3_millis,
       (a->>'ts')::int8 = (extract(epoch FROM r.ts) * 1000000)::int8 AS timestamp_micros,
       (a->>'ts3')::int8 = (extract(epoch FROM r.ts3) * 1000)::int8 AS timestamp3_millis,
       (a->>'tstz')::timestamptz = r.tstz AND a->>'tstz' LIKE '%Z' AS zoned_timestamp,
       a->>'ttz' AS zoned_time,
       (a->>'iv')::int8 = ((extract(year FROM r.iv) * 12 + extract(month FROM r.iv)) * 30.4375 * 86400000000
                          + extract(day FROM r.iv) * 86400000000
                          + extract(epoch FROM r.iv - date_trunc('day', r.iv)) * 1000000)::int8 AS micro_duration,
       jsonb_typeof(a->'j') = 'string' AND (a->>'j')::jsonb = r.j::jsonb AS json_string,
       jsonb_typeof(a->'jb') = 'string' AND (a->>'jb')::jsonb = r.jb AS jsonb_string,
       decode(a->>'by', 'base64') = r.by AS bytes,
       a->>'u' = r.u::text AS uuid,
       (a->>'bit1')::bool = (r.bit1 = B'1') AS bit1,
       a->'ia' AS int_array,
       (SELECT array_agg(dbz_decimal(x, 2)) FROM jsonb_array_elements_text(a->'na') x) IS NOT DISTINCT FROM
         nullif(r.na, '{}') AS decimal_array,
       a->>'txt' = r.txt AS text
  FROM dbz_out, LATERAL (SELECT e->'after' AS a) x
  JOIN dbz_types r ON r.id = (a->>'id')::int
 ORDER BY r.id \gx
SELECT e->'after'->'f8' AS float8_nan, e->'after'->'n' AS n, e->'after'->'j' AS j FROM dbz_out ORDER BY e->'after'->>'id';

-- Debezium's own option names and values
SELECT count(*) FROM es_changes('dbz');
INSERT INTO dbz_types (id, n, nv, m, iv, t, ts, by)
	VALUES (3, 1.5, 'NaN', '1.00', '1 mon 2 days 00:00:01.5', '10:00', '2026-01-01 00:00:00.123456', '\xfbff');
SELECT e->'after'->'n' AS n, e->'after'->'nv' AS nv, e->'after'->'m' AS m
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types',
        'decimal.handling.mode', 'string')) x;
SELECT e->'after'->'n' AS n, e->'after'->'nv' AS nv, e->'after'->'m' AS m
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types',
        'decimal.handling.mode', 'double')) x;
SELECT e->'after'->'n' AS n, e->'after'->'nv' AS nv
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types')) x;
SELECT e->'after'->'iv' AS iv
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types',
        'interval.handling.mode', 'string')) x;
SELECT e->'after'->'t' AS t, e->'after'->'ts' AS ts
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types',
        'time.precision.mode', 'connect')) x;
SELECT e->'after'->'by' AS b64, f->'after'->'by' AS url, g->'after'->'by' AS hex
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types')) x,
       (SELECT es_peek::jsonb AS f FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types',
        'binary.handling.mode', 'base64-url-safe')) y,
       (SELECT es_peek::jsonb AS g FROM es_peek('dbz', 'format', 'debezium', 'tables', 'public.dbz_types',
        'binary.handling.mode', 'hex')) z;
SELECT count(*) FROM es_peek('dbz', 'format', 'debezium', 'decimal.handling.mode', 'exact');
SELECT count(*) FROM es_peek('dbz', 'format', 'debezium', 'time.precision.mode', '');
SELECT count(*) FROM es_changes('dbz');

-- a key change is a delete of the old key and a create of the new one;
-- tombstones.on.delete adds a null after each delete
CREATE TABLE dbz_k (id int PRIMARY KEY, v text);
INSERT INTO dbz_k VALUES (1, 'a');
UPDATE dbz_k SET id = 2;
UPDATE dbz_k SET v = 'b';
DELETE FROM dbz_k;
SELECT e->>'op' AS op, e->'before' AS before, e->'after' AS after
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium')) x;
SELECT d FROM es_changes('dbz', 'format', 'debezium', 'tombstones.on.delete', 'true') d
 WHERE d = 'null' OR d::jsonb->>'op' = 'd';

-- unchanged TOAST values: the placeholder in the column's own shape
CREATE TABLE dbz_toast (id int PRIMARY KEY, t text, b bytea, a text[], v int);
ALTER TABLE dbz_toast ALTER t SET STORAGE EXTERNAL, ALTER b SET STORAGE EXTERNAL,
	ALTER a SET STORAGE EXTERNAL;
INSERT INTO dbz_toast VALUES (1, repeat('t', 3000), convert_to(repeat('b', 3000), 'UTF8'),
	ARRAY[repeat('a', 3000)], 1);
UPDATE dbz_toast SET v = 2;
SELECT e->'after'->'t' AS t, e->'after'->'b' AS b,
       convert_from(decode(e->'after'->>'b', 'base64'), 'UTF8') AS b_decoded, e->'after'->'a' AS a
  FROM (SELECT es_changes::jsonb AS e FROM es_changes('dbz', 'format', 'debezium')) x
 WHERE e->>'op' = 'u';

-- transaction metadata: total_order, data_collection_order, and the END
-- event's data_collections
BEGIN;
INSERT INTO dbz_k VALUES (10, 'x'), (11, 'y');
INSERT INTO dbz_toast (id, v) VALUES (10, 1);
INSERT INTO dbz_k VALUES (12, 'z');
COMMIT;
SELECT e->'after'->>'id' AS id, e->'transaction'->'total_order' AS total_order,
       e->'transaction'->'data_collection_order' AS data_collection_order
  FROM (SELECT es_peek::jsonb AS e FROM es_peek('dbz', 'format', 'debezium', 'include-transaction', '1')) x
 WHERE e ? 'after';

SELECT regexp_replace(d, '"id":"[0-9]+:[0-9]+"', '"id":"<id>"', 'g') AS data
  FROM es_changes('dbz', 'format', 'debezium', 'include-transaction', '1') d
 WHERE d::jsonb ? 'status';

-- Decimal bytes are the fewest that hold the value with its sign, as
-- Java's BigInteger.toByteArray writes them: at each width's edges, and
-- past 18 digits (a different path in the encoder)
CREATE TABLE dbz_dec (id int PRIMARY KEY, n numeric(30,2));
INSERT INTO dbz_dec
  SELECT row_number() OVER (), v / 100
    FROM unnest(ARRAY[0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769,
                      8388607, 8388608, 2147483647, 2147483648, -2147483649,
                      36028797018963967, 36028797018963968, -36028797018963969,
                      999999999999999999, -999999999999999999,
                      9223372036854775807, 9223372036854775808, -9223372036854775809,
                      123456789012345678901234567890]::numeric[]) v;
SELECT count(*) AS values,
       count(*) FILTER (WHERE decode(e->'after'->>'n', 'base64') = (
         SELECT string_agg(set_byte('\x00'::bytea, 0,
                  (floor(u / 256::numeric ^ (w - 1 - i)) % 256)::int), '' ORDER BY i)
           FROM (SELECT min(w) AS w FROM generate_series(1, 16) w
                  WHERE r.n * 100 >= -(2::numeric ^ (8 * w - 1)) AND r.n * 100 < 2::numeric ^ (8 * w - 1)) wid,
                LATERAL (SELECT CASE WHEN r.n < 0 THEN 256::numeric ^ wid.w + r.n * 100 ELSE r.n * 100 END AS u) uu,
                generate_series(0, wid.w - 1) i)) AS fewest_bytes
  FROM (SELECT es_changes::jsonb AS e FROM es_changes('dbz', 'format', 'debezium', 'tables', 'public.dbz_dec')) x
  JOIN dbz_dec r ON r.id = (e->'after'->>'id')::int;

SELECT pg_drop_replication_slot('dbz');
DROP TABLE dbz_types, dbz_k, dbz_toast, dbz_dec;
DROP FUNCTION dbz_decimal(text, int);
