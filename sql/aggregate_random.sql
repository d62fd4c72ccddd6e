--
-- aggregate_random: seeded random histories against four aggregates of
-- different shapes over one table.  Each history mixes inserts, updates of
-- group keys, filter columns and values (to and from NULL), deletes (the
-- current min or max rows too), bulk updates, rolled-back transactions and
-- rolled-back savepoints; after sync() every view must equal its query
-- exactly (EXCEPT ALL both ways: "0/0" per shape).  Each history starts
-- with a TRUNCATE, which the aggregates take too.
--
CREATE EXTENSION pg_eventstream;
CREATE SCHEMA rnd;
SET search_path = rnd, public;
CREATE TABLE t (id int PRIMARY KEY, k1 int, k2 text, v int, n numeric(8,2), s text,
                ts timestamptz NOT NULL, flag boolean NOT NULL);
ALTER TABLE t REPLICA IDENTITY FULL;
CREATE SEQUENCE t_id;

CREATE TABLE shapes (name text PRIMARY KEY, query text NOT NULL);
INSERT INTO shapes VALUES
  ('by_keys', 'SELECT k1, k2, count(*), count(v) AS nv, sum(v), avg(v), min(v), max(v) AS maxv, sum(n) AS sn, avg(n) AS an FROM rnd.t WHERE flag GROUP BY 1, 2'),
  ('by_time', 'SELECT date_bin(''30 minutes'', ts, timestamptz ''2026-01-01'') AS b, min(s), max(s) AS maxs, count(s), min(n) AS minn, max(n) AS maxn, avg(v) FROM rnd.t GROUP BY 1'),
  ('overall', 'SELECT count(*), sum(v), min(v), max(n), avg(n) FROM rnd.t WHERE v > 10'),
  ('by_expr', 'SELECT coalesce(k2, ''?'') || (k1 % 2)::text AS g, count(*) AS c, max(v) - min(v) AS spread FROM rnd.t GROUP BY 1 HAVING count(*) > 2'),
  ('distinct_keys', 'SELECT k1, count(DISTINCT s) AS ds, count(DISTINCT v) AS dv, count(DISTINCT k2) AS dk, count(*) FROM rnd.t WHERE flag GROUP BY 1'),
  ('distinct_all', 'SELECT count(DISTINCT s) AS ds, count(DISTINCT v % 5) AS dv, count(DISTINCT flag) AS df FROM rnd.t');
SELECT name, eventstream.create_aggregate('rnd.' || name, query) FROM shapes ORDER BY name;

-- "missing/extra" of a view against its query
CREATE FUNCTION diff(v text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;
  extra bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL SELECT * FROM rnd.%I) d', q, v) INTO missing;
  EXECUTE format('SELECT count(*) FROM (SELECT * FROM rnd.%I EXCEPT ALL (%s)) d', v, q) INTO extra;
  RETURN missing || '/' || extra;
END
$$;

CREATE FUNCTION r_k1() RETURNS int LANGUAGE sql AS
  $$ SELECT CASE WHEN random() < 0.15 THEN NULL ELSE floor(random() * 4)::int END $$;
CREATE FUNCTION r_k2() RETURNS text LANGUAGE sql AS
  $$ SELECT (ARRAY['a', 'b', 'c', NULL])[1 + floor(random() * 4)::int] $$;
CREATE FUNCTION r_v() RETURNS int LANGUAGE sql AS
  $$ SELECT CASE WHEN random() < 0.2 THEN NULL ELSE floor(random() * 100)::int - 20 END $$;
CREATE FUNCTION r_n() RETURNS numeric LANGUAGE sql AS
  $$ SELECT CASE WHEN random() < 0.2 THEN NULL ELSE round((random() * 1000)::numeric) / 100 END $$;
CREATE FUNCTION r_s() RETURNS text LANGUAGE sql AS
  $$ SELECT CASE WHEN random() < 0.2 THEN NULL ELSE 'x' || floor(random() * 50)::int END $$;
CREATE FUNCTION r_ts() RETURNS timestamptz LANGUAGE sql AS
  $$ SELECT timestamptz '2026-01-01' + floor(random() * 300) * interval '1 minute' $$;

-- a row chosen at random, or NULL
CREATE FUNCTION r_id() RETURNS int LANGUAGE sql AS
  $$ SELECT id FROM rnd.t ORDER BY id LIMIT 1 OFFSET floor(random() * (SELECT count(*) FROM rnd.t)) $$;

-- one random change
CREATE FUNCTION r_op() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r float8 := random();
  col int := floor(random() * 7)::int;
  g int := r_k1();
BEGIN
  IF r < 0.35 THEN
    INSERT INTO rnd.t VALUES (nextval('rnd.t_id'), r_k1(), r_k2(), r_v(), r_n(), r_s(), r_ts(), random() < 0.8);
  ELSIF r < 0.60 THEN
    CASE col
      WHEN 0 THEN UPDATE rnd.t SET k1 = r_k1() WHERE id = r_id();
      WHEN 1 THEN UPDATE rnd.t SET k2 = r_k2() WHERE id = r_id();
      WHEN 2 THEN UPDATE rnd.t SET flag = NOT flag WHERE id = r_id();
      WHEN 3 THEN UPDATE rnd.t SET v = r_v() WHERE id = r_id();
      WHEN 4 THEN UPDATE rnd.t SET n = r_n(), s = r_s() WHERE id = r_id();
      WHEN 5 THEN UPDATE rnd.t SET ts = r_ts() WHERE id = r_id();
      ELSE UPDATE rnd.t SET k1 = r_k1(), k2 = r_k2(), v = r_v() WHERE id = r_id();
    END CASE;
  ELSIF r < 0.75 THEN
    DELETE FROM rnd.t WHERE id = r_id();
  ELSIF r < 0.82 THEN
    -- the current min of a group, then the current max
    DELETE FROM rnd.t WHERE k1 IS NOT DISTINCT FROM g
       AND v = (SELECT min(v) FROM rnd.t WHERE k1 IS NOT DISTINCT FROM g);
  ELSIF r < 0.88 THEN
    DELETE FROM rnd.t WHERE n = (SELECT max(n) FROM rnd.t);
  ELSIF r < 0.93 THEN
    UPDATE rnd.t SET s = NULL WHERE s = (SELECT max(s) FROM rnd.t);
  ELSE
    UPDATE rnd.t SET k1 = g, v = v + 1 WHERE id % 7 = floor(random() * 7)::int;
  END IF;
END
$$;

-- one seeded history: a fresh table, then transactions of 1 to 4 changes;
-- one in ten rolls back, one in seven also rolls back a savepoint
CREATE PROCEDURE run_history(seed float8, txns int) LANGUAGE plpgsql AS $$
DECLARE
  r float8;
BEGIN
  PERFORM setseed(seed);
  TRUNCATE rnd.t;
  INSERT INTO rnd.t SELECT nextval('rnd.t_id'), r_k1(), r_k2(), r_v(), r_n(), r_s(), r_ts(), random() < 0.8
  FROM generate_series(1, 150);
  COMMIT;
  FOR i IN 1..txns LOOP
    FOR j IN 1..(1 + floor(random() * 4)::int) LOOP
      PERFORM r_op();
    END LOOP;
    r := random();
    IF r < 0.10 THEN
      ROLLBACK;
    ELSE
      IF r < 0.25 THEN
        BEGIN
          PERFORM r_op();
          PERFORM r_op();
          RAISE EXCEPTION 'roll back to the savepoint';
        EXCEPTION WHEN raise_exception THEN
          NULL;
        END;
      END IF;
      COMMIT;
    END IF;
  END LOOP;
END
$$;

CREATE TABLE results (seed int, shape text, diff text, groups bigint);
DO $$
BEGIN
  FOR seed IN 1..10 LOOP
    CALL rnd.run_history(seed / 100.0, 60);
    PERFORM eventstream.sync('60 s');
    INSERT INTO rnd.results
    SELECT seed, s.name, rnd.diff(s.name, s.query), eventstream._aggregate_groups(a.id)
    FROM rnd.shapes s JOIN eventstream.aggregate_catalog a ON a.view_relid = ('rnd.' || s.name)::regclass;
    COMMIT;
  END LOOP;
END
$$;
SELECT seed, string_agg(shape || ' ' || diff, ', ' ORDER BY shape) AS "missing/extra" FROM results GROUP BY seed ORDER BY seed;
-- the histories were not trivial: groups came and went
SELECT min(groups) > 0 AND max(groups) > 5 AS nontrivial FROM results WHERE shape = 'by_keys';
SELECT name, state, error FROM eventstream.aggregates ORDER BY 1;

DROP EXTENSION pg_eventstream CASCADE;
CALL es_wait_worker_gone();
DROP SCHEMA rnd CASCADE;
RESET search_path;
