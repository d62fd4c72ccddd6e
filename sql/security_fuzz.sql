--
-- security_fuzz: every SQL function of the extension, called by a role
-- with no rights with generated bad arguments (NULLs, empty and huge
-- strings, SQL in names, out-of-range numbers and intervals), fails with a
-- clear error -- never an internal one (SQLSTATE class XX) -- and the
-- worker is still the same process afterwards.
--
CREATE EXTENSION pg_eventstream;
CREATE ROLE fuzz_nobody;
GRANT USAGE ON SCHEMA eventstream TO fuzz_nobody;
CREATE TABLE fz (id int PRIMARY KEY, v int);
SELECT eventstream.create_stream('fz_stream', '{public.fz}');
SELECT eventstream.create_consumer('fz_consumer', 'fz_stream');
SELECT eventstream.create_consumer('fz_parts', 'fz_stream', partitions => 4);
INSERT INTO fz VALUES (1, 1);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT pid AS worker_pid FROM eventstream.status \gset

-- sample values per argument type
CREATE TABLE fuzz_values (type regtype, val text);
INSERT INTO fuzz_values VALUES
  ('text', NULL), ('text', ''), ('text', 'fz_stream'), ('text', 'fz_consumer'),
  ('text', 'no_such'), ('text', $q$x'); DROP TABLE fz; --$q$), ('text', repeat('n', 5000)),
  ('text', 'public.fz'), ('text', 'latest'), ('text', E'a\\b"c'),
  ('integer', NULL), ('integer', '-1'), ('integer', '0'), ('integer', '2147483647'),
  ('bigint', NULL), ('bigint', '-1'), ('bigint', '0'), ('bigint', '9223372036854775807'),
  ('interval', NULL), ('interval', '-1 s'), ('interval', '0'), ('interval', '1 mon'),
  ('interval', '10 ms'), ('boolean', NULL), ('boolean', 'true'), ('boolean', 'false'),
  ('jsonb', NULL), ('jsonb', '{}'), ('jsonb', '[1,2]'), ('jsonb', 'null'),
  ('text[]', NULL), ('text[]', '{}'), ('text[]', '{NULL}'), ('text[]', '{"public.fz"}'),
  ('text[]', '{"*.*"}'), ('text[]', '{insert,nope}'), ('text[]', '{"a b . c"}'),
  ('regclass', NULL), ('regclass', '0'), ('regclass', 'pg_class'), ('regclass', 'fz'),
  ('timestamp with time zone', NULL), ('timestamp with time zone', '-infinity'),
  ('timestamp with time zone', '2000-01-01'), ('oid', NULL), ('oid', '0'), ('oid', '1259');

-- each function, each argument through its values, the others at a first one
CREATE TABLE fuzz_calls (sql text);
INSERT INTO fuzz_calls
SELECT format('SELECT %s(%s)', p.oid::regproc,
              string_agg(CASE WHEN a.n = v.argn THEN coalesce(quote_literal(v.val), 'NULL')
                              ELSE coalesce((SELECT quote_literal(f.val) FROM fuzz_values f
                                             WHERE f.type = a.t AND f.val IS NOT NULL LIMIT 1), 'NULL')
                         END || '::' || a.t::text, ', ' ORDER BY a.n))
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_eventstream'
  CROSS JOIN LATERAL unnest(p.proargtypes::regtype[]) WITH ORDINALITY a(t, n)
  CROSS JOIN LATERAL (SELECT a2.n AS argn, f.val
                        FROM unnest(p.proargtypes::regtype[]) WITH ORDINALITY a2(t, n)
                        JOIN fuzz_values f ON f.type = a2.t) v
 WHERE p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
   AND p.prokind = 'f'
 GROUP BY p.oid, v.argn, v.val;
-- and those without arguments
INSERT INTO fuzz_calls
SELECT format('SELECT %s()', p.oid::regproc)
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_eventstream'
 WHERE p.pronargs = 0 AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype);
SELECT count(*) > 300 AS many_calls,
       count(DISTINCT split_part(sql, '(', 1)) AS functions FROM fuzz_calls;
GRANT SELECT ON fuzz_calls TO fuzz_nobody;
CREATE TABLE fuzz_results (sql text, sqlstate text, message text);
GRANT INSERT ON fuzz_results TO fuzz_nobody;

SET ROLE fuzz_nobody;
DO $$
DECLARE
  c record;
  st text;
  msg text;
BEGIN
  FOR c IN SELECT sql FROM fuzz_calls ORDER BY sql LOOP
    BEGIN
      EXECUTE c.sql;
      st := '00000';
      msg := NULL;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    INSERT INTO fuzz_results VALUES (c.sql, st, msg);
  END LOOP;
END $$;
RESET ROLE;

-- no internal errors, no crash; most calls refused
SELECT sql, sqlstate, message FROM fuzz_results WHERE sqlstate LIKE 'XX%' OR sqlstate LIKE '58%';
SELECT count(*) = (SELECT count(*) FROM fuzz_calls) AS every_call_ran,
       count(*) FILTER (WHERE sqlstate <> '00000') > count(*) / 2 AS mostly_refused
  FROM fuzz_results;
-- nothing was made or broken by it
SELECT count(*) AS tables_left FROM fz;
SELECT name FROM eventstream.streams ORDER BY 1;
SELECT pid = :worker_pid AS same_worker FROM eventstream.status;
INSERT INTO fz VALUES (2, 2);
SELECT eventstream.sync() IS NOT NULL AS still_capturing;
SELECT count(*) AS events FROM eventstream.read('fz_stream');

DROP EXTENSION pg_eventstream CASCADE;
CALL es_wait_worker_gone();
DROP TABLE fz, fuzz_values, fuzz_calls, fuzz_results;
DROP OWNED BY fuzz_nobody;
DROP ROLE fuzz_nobody;
