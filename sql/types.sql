--
-- types: the value encoding of every common type, and output that does
-- not depend on DateStyle, TimeZone, IntervalStyle, bytea_output or
-- extra_float_digits.
--
SELECT 'init' FROM pg_create_logical_replication_slot('types', 'pg_eventstream');

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (t timestamptz, f float8);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100);

CREATE TABLE numbers(id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, o oid,
                     f4 float4, f8 float8, n numeric, n2 numeric(10,3));
INSERT INTO numbers VALUES
  (1, -32768, -2147483648, -9223372036854775808, 4294967295,
   1.5, 0.1, 0, 1.000),
  (2, 32767, 2147483647, 9223372036854775807, 0,
   'NaN', 'Infinity', 'NaN', NULL),
  (3, 0, 0, 0, 1, '-Infinity', '-Infinity', 'Infinity', -0.5),
  (4, 1, 1, 1, 1, 3.4028235e38, 1.7976931348623157e308,
   '-Infinity', 1234567.891),
  (5, 1, 1, 1, 1, 1e-45, 5e-324,
   123456789012345678901234567890.123456789012345678901234567890, 0),
  (6, 1, 1, 1, 1, -0.0, 1e20, 1e-30, 0.001);
SELECT * FROM es_changes('types');

CREATE TABLE texts(id int PRIMARY KEY, t text, vc varchar(20), c char(5),
                   nm name, ch "char", x xml);
INSERT INTO texts VALUES
  (1, 'plain', 'v', 'c', 'n', 'a', '<a>x</a>'),
  (2, E'quote " backslash \\ slash /', 'tab' || chr(9) || 'x', 'ab', 'x"y', '"', NULL),
  (3, E'line1\nline2\r\n' || chr(1) || chr(31) || chr(127), '', '', '', 'z', NULL),
  (4, 'unicode: é ü 日本 😀', 'ñ', 'ß', 'ü', 'b', NULL),
  (5, '', NULL, NULL, NULL, NULL, NULL);
SELECT * FROM es_changes('types');

CREATE TABLE others(id int PRIMARY KEY, b bool, j json, jb jsonb, by bytea,
                    u uuid, m mood, p posint, st short_text, ip inet, cidr cidr,
                    mac macaddr, bits bit(4), vb varbit, pt point, r int4range,
                    tr tstzrange, cp pair, lsn pg_lsn, mon money);
INSERT INTO others VALUES
  (1, true, '{"a": [1, 2.5, "x"], "b": null}', '{"b": {"c": true}, "a": 1}',
   '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', 5, 'dom',
   '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'1010', B'11',
   '(1.5,-2)', '[1,10)', '[2026-01-01 00:00+00,2026-01-02 00:00+00)',
   ROW('2026-11-24 08:49:33.905123+00', 0.1), '0/16B37C0', 12.34),
  (2, false, E'[1,\n 2]', '[]', '', '00000000-0000-0000-0000-000000000000',
   'sad', 1, '', '::1', '::/0', '00:00:00:00:00:00', B'0000', B'', '(0,0)',
   'empty', NULL, ROW(NULL, 'NaN'), '0/0', 0),
  (3, NULL, 'null', '"str"', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM es_changes('types');

CREATE TABLE times(id int PRIMARY KEY, tz timestamptz, ts timestamp, d date,
                   t time, ttz timetz, iv interval);
INSERT INTO times VALUES
  (1, '2026-11-24 08:49:33.905123+00', '2026-11-24 08:49:33.905123',
   '2026-11-24', '08:49:33.905123', '08:49:33+02', '1 year 2 months 3 days 04:05:06.5'),
  (2, '2026-11-24 10:00:00+05:30', '2026-11-24 00:00:00', '1999-01-08',
   '00:00', '23:59:59.999999-11', '-1 day -00:00:01'),
  (3, 'infinity', '-infinity', 'infinity', '24:00', '00:00+00', '0'),
  (4, '0044-03-15 12:00:00+00 BC', '0001-01-01 00:00:00 BC', '-infinity',
   NULL, NULL, '1 microsecond');
SELECT * FROM es_changes('types');

CREATE TABLE arrays(id int PRIMARY KEY, ia int[], ta text[], ja jsonb[],
                    fa float8[], tza timestamptz[], ba bool[], ua uuid[],
                    da posint[], ea mood[], na numeric[]);
INSERT INTO arrays VALUES
  (1, '{1,2,3}', '{"a","b c","d\"e",NULL}', ARRAY['{"x":1}'::jsonb, 'null'],
   '{1.5,NaN,-Infinity}', '{"2026-11-24 08:49:33+00"}', '{t,f,NULL}',
   '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{1,2}', '{ok,happy}', '{1.10,NaN}'),
  (2, '{{1,2},{3,NULL}}', '{}', '{}', '{{{1}}}', NULL, '{}', '{}', '{}', '{}', '{}'),
  (3, '[0:1]={5,6}', '{{"a"},{"b"}}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM es_changes('types');

-- numeric-as-string
INSERT INTO numbers VALUES (7, 0, 0, 0, 0, 0, 0, 12.50, 99.999);
SELECT * FROM es_changes('types', 'numeric-as-string', 'true');

-- session settings do not change a single byte of the output
INSERT INTO times SELECT id + 10, tz, ts, d, t, ttz, iv FROM times;
INSERT INTO others (id, by, pt, tr, cp, mon) SELECT id + 10, by, pt, tr, cp, mon FROM others;
INSERT INTO numbers SELECT id + 10, i2, i4, i8, o, f4, f8, n, n2 FROM numbers;
INSERT INTO arrays (id, fa, tza) SELECT id + 10, fa, tza FROM arrays;
CREATE TEMP TABLE out_default AS
  SELECT row_number() OVER () AS n, data FROM es_peek('types') AS data;
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Pacific/Chatham';
SET IntervalStyle = 'sql_standard';
SET bytea_output = 'escape';
SET extra_float_digits = -3;
CREATE TEMP TABLE out_unusual AS
  SELECT row_number() OVER () AS n, data FROM es_peek('types') AS data;
SET DateStyle = 'German';
SET TimeZone = 'America/St_Johns';
SET IntervalStyle = 'postgres_verbose';
SET extra_float_digits = 0;
CREATE TEMP TABLE out_german AS
  SELECT row_number() OVER () AS n, data FROM es_peek('types') AS data;
RESET ALL;
SELECT count(*) AS events,
       count(*) FILTER (WHERE d.data = u.data AND d.data = g.data) AS identical
  FROM out_default d JOIN out_unusual u USING (n) JOIN out_german g USING (n);
-- and what the rows of different types looked like
SELECT data FROM out_default WHERE data::jsonb->>'table' IN ('times', 'others')
 ORDER BY n;
SELECT 'done' FROM es_changes('types') LIMIT 1;

SELECT pg_drop_replication_slot('types');
