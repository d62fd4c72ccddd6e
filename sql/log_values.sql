--
-- log_values: the event log holds, for every value, exactly what the
-- output plugin writes.  The worker builds an event's jsonb from the
-- decoded values (SPEC section 1's encoding), falling back to parsing the
-- plugin's JSON text for values only the parser can judge (json, huge
-- rows); both must agree with jsonb_in of the plugin's text for every
-- type, compared as text so that a numeric's scale or a key's order
-- counts.
--
CREATE EXTENSION pg_eventstream;
CREATE SCHEMA lv;
SET search_path = lv, public;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (t timestamptz, f float8);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);

CREATE TABLE numbers(id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, o oid,
                     f4 float4, f8 float8, n numeric, n2 numeric(10,3));
CREATE TABLE texts(id int PRIMARY KEY, t text, vc varchar(20), c char(5),
                   nm name, ch "char", x xml);
CREATE TABLE others(id int PRIMARY KEY, b bool, jb jsonb, by bytea,
                    u uuid, m mood, p posint, ip inet, bits bit(4), pt point,
                    r int4range, tr tstzrange, cp pair, lsn pg_lsn, mon money);
CREATE TABLE times(id int PRIMARY KEY, tz timestamptz, ts timestamp, d date,
                   t time, ttz timetz, iv interval);
CREATE TABLE arrays(id int PRIMARY KEY, ia int[], ta text[], ja jsonb[],
                    fa float8[], tza timestamptz[], ba bool[], ua uuid[],
                    da posint[], ea mood[], na numeric[]);
-- json values go through the parser; a table with one still has its other
-- columns right
CREATE TABLE jsons(id int PRIMARY KEY, j json, ja json[], n numeric);
-- a key of several columns (in key and old), REPLICA IDENTITY FULL, and an
-- unchanged out-of-line value left out of an update's new row
CREATE TABLE wide(a text, "B col" int, "ü" numeric, big text, jb jsonb,
                  PRIMARY KEY ("B col", a));
ALTER TABLE wide REPLICA IDENTITY FULL;
ALTER TABLE wide ALTER big SET STORAGE EXTERNAL;
CREATE TABLE keyed(id int PRIMARY KEY, big text, v int);
ALTER TABLE keyed ALTER big SET STORAGE EXTERNAL;

SELECT 'init' FROM pg_create_logical_replication_slot('log_values', 'pg_eventstream');
SELECT eventstream.create_stream('log_values', '{lv.*}');

INSERT INTO numbers VALUES
  (1, -32768, -2147483648, -9223372036854775808, 4294967295, 1.5, 0.1, 0, 1.000),
  (2, 32767, 2147483647, 9223372036854775807, 0, 'NaN', 'Infinity', 'NaN', NULL),
  (3, 0, 0, 0, 1, '-Infinity', '-Infinity', 'Infinity', -0.5),
  (4, 1, 1, 1, 1, 3.4028235e38, 1.7976931348623157e308, '-Infinity', 1234567.891),
  (5, 1, 1, 1, 1, 1e-45, 5e-324,
   123456789012345678901234567890.123456789012345678901234567890, 0),
  (6, 1, 1, 1, 1, -0.0, 1e20, 1e-30, 0.001),
  (7, NULL, NULL, NULL, NULL, 1e-7, 123456789.125, 0.00, 10.100);
INSERT INTO texts VALUES
  (1, 'plain', 'v', 'c', 'n', 'a', '<a>x</a>'),
  (2, E'quote " backslash \\ slash /', 'tab' || chr(9) || 'x', 'ab', 'x"y', '"', NULL),
  (3, E'line1\nline2\r\n' || chr(1) || chr(31) || chr(127), '', '', '', 'z', NULL),
  (4, 'unicode: é ü 日本 😀 \u0041', 'ñ', 'ß', 'ü', 'b', NULL),
  (5, '', NULL, NULL, NULL, NULL, NULL);
INSERT INTO others VALUES
  (1, true, '{"b": {"c": true, "aa": [1, 2.50, "x", null]}, "a": 1}', '\x00ff10',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', 5, '192.168.0.1/24', B'1010',
   '(1.5,-2)', '[1,10)', '[2026-01-01 00:00+00,2026-01-02 00:00+00)',
   ROW('2026-11-24 08:49:33.905123+00', 0.1), '0/16B37C0', 12.34),
  (2, false, '[]', '', '00000000-0000-0000-0000-000000000000', 'sad', 1, '::1',
   B'0000', '(0,0)', 'empty', NULL, ROW(NULL, 'NaN'), '0/0', 0),
  (3, NULL, 'null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, NULL, '"str \" \\ \u00e9"', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, NULL, '[1.0, 1e3, -0, {"": {}}, [[]]]', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (6, NULL, '12.50', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO times VALUES
  (1, '2026-11-24 08:49:33.905123+00', '2026-11-24 08:49:33.905123',
   '2026-11-24', '08:49:33.905123', '08:49:33+02', '1 year 2 months 3 days 04:05:06.5'),
  (2, '2026-11-24 10:00:00+05:30', '2026-11-24 00:00:00', '1999-01-08',
   '00:00', '23:59:59.999999-11', '-1 day -00:00:01'),
  (3, 'infinity', '-infinity', 'infinity', '24:00', '00:00+00', '0'),
  (4, '0044-03-15 12:00:00+00 BC', '0001-01-01 00:00:00 BC', '-infinity',
   NULL, NULL, '1 microsecond');
INSERT INTO arrays VALUES
  (1, '{1,2,3}', '{"a","b c","d\"e",NULL}', ARRAY['{"x":1}'::jsonb, 'null'],
   '{1.5,NaN,-Infinity}', '{"2026-11-24 08:49:33+00"}', '{t,f,NULL}',
   '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{1,2}', '{ok,happy}', '{1.10,NaN}'),
  (2, '{{1,2},{3,NULL}}', '{}', '{}', '{{{1}}}', NULL, '{}', '{}', '{}', '{}', '{}'),
  (3, '[0:1]={5,6}', '{{"a"},{"b"}}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO jsons VALUES
  (1, '{"b": 1, "a": [1.50, "x"], "b": 2}', ARRAY['{"x": 1}'::json, '[]'], 1.50),
  (2, 'null', NULL, NULL),
  (3, '  "spaced"  ', '{}', 0);
INSERT INTO wide VALUES ('k', 1, 2.50, repeat('x', 5000), '{"z": 1, "y": [true]}'),
                        (E'k"\\', -1, NULL, NULL, NULL);
UPDATE wide SET "ü" = 3.0 WHERE "B col" = 1;
UPDATE wide SET "B col" = 2, big = 'small' WHERE "B col" = -1;
DELETE FROM wide WHERE "B col" = 1;
INSERT INTO keyed VALUES (1, repeat('y', 5000), 1);
-- a row past the size the worker builds directly: parsed from text
INSERT INTO keyed VALUES (2, repeat('z', 3000000), 3);
UPDATE keyed SET v = 2;
DELETE FROM keyed;
UPDATE numbers SET n2 = n2 * 2;
DELETE FROM times WHERE id = 2;
TRUNCATE texts;

SELECT eventstream.sync() IS NOT NULL AS synced;
CREATE TEMP TABLE plugin AS
  SELECT row_number() OVER () AS n, data::jsonb AS ev
    FROM pg_logical_slot_get_changes('log_values', NULL, NULL)
   WHERE data::jsonb->>'schema' = 'lv';
CREATE TEMP TABLE logged AS
  SELECT row_number() OVER (ORDER BY id) AS n, * FROM eventstream.read('log_values', 0, 1000);

SELECT (SELECT count(*) FROM plugin) AS plugin_events,
       (SELECT count(*) FROM logged) AS log_events;
-- every part of every event the same, as text
SELECT p.n, p.ev->>'table' AS "table", p.ev->>'op' AS op,
       (p.ev->'key')::text AS plugin_key, l.key::text AS log_key,
       (p.ev->'old')::text AS plugin_old, l.old::text AS log_old,
       (p.ev->'new')::text AS plugin_new, l.new::text AS log_new
  FROM plugin p FULL JOIN logged l USING (n)
 WHERE p.ev->>'op' IS DISTINCT FROM l.op
    OR p.ev->>'table' IS DISTINCT FROM l.table_name
    OR (p.ev->'key')::text IS DISTINCT FROM l.key::text
    OR (p.ev->'old')::text IS DISTINCT FROM l.old::text
    OR (p.ev->'new')::text IS DISTINCT FROM l.new::text;
-- and what a few of them look like in the log
SELECT table_name, op, key, old - 'big' AS old, new - 'big' AS new,
       length(old->>'big') AS old_big, length(new->>'big') AS new_big
  FROM logged WHERE table_name IN ('wide', 'keyed', 'jsons') ORDER BY id;

SELECT pg_drop_replication_slot('log_values');
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP SCHEMA lv CASCADE;
