--
-- aggregate_float: sum and avg of float8 and float4, kept exact.  The
-- materialization holds the exact sum of the current values (and counts of
-- infinities and NaN), so after any history the view holds the correctly
-- rounded exact sum -- what the query would give if float addition did not
-- round at each step (its own result depends on the order it reads rows).
-- References are computed from integers: x = m * 2^-10 exactly, so the
-- exact sum is sum(m) * 2^-10 in numeric.
--
CREATE EXTENSION pg_eventstream;

-- the exact value of a double, every digit
SELECT eventstream._float8_exact_finite(0.1) AS point_one,
       eventstream._float8_exact_finite(-2.5) AS minus_two_and_a_half,
       eventstream._float8_exact_finite(1e20) AS ten_to_twenty,
       eventstream._float8_exact_finite('NaN') AS nan_is_counted_apart,
       length(eventstream._float8_exact_finite(5e-324)::text) AS digits_of_the_least_double,
       eventstream._float8_exact_finite(5e-324)::float8 = 5e-324 AS least_round_trips,
       eventstream._float8_exact_finite(1.7976931348623157e308)::float8 = 1.7976931348623157e308 AS greatest_round_trips;
-- a random sample: the exact value rounds back to the double
SELECT setseed(0.3);
SELECT count(*) AS round_trips
  FROM (SELECT (random() - 0.5) * 10 ^ (floor(random() * 40) - 20) AS d FROM generate_series(1, 2000)) s
 WHERE eventstream._float8_exact_finite(d)::float8 = d;

CREATE TABLE fl (id int PRIMARY KEY, g int, m bigint, x float8, y float4);
ALTER TABLE fl REPLICA IDENTITY FULL;
SELECT eventstream.create_aggregate('fl_agg', $$
  SELECT g, count(*) AS c, count(x) AS nx, sum(x) AS sx, avg(x) AS ax, sum(y) AS sy, avg(y) AS ay,
         min(x) AS minx, max(x) AS maxx
  FROM public.fl GROUP BY g $$);

-- the view against the exact references: rows that differ
CREATE FUNCTION fl_mismatches() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (
    SELECT g, count(*) AS c, count(m) AS nx,
           (sum(m::numeric * 0.0009765625))::float8 AS sx,
           (sum(m::numeric * 0.0009765625) / count(m))::float8 AS ax,
           (sum(y::float8::numeric))::float4 AS sy,
           min(x) AS minx, max(x) AS maxx
    FROM fl GROUP BY g) r
  FULL JOIN fl_agg v USING (g)
  WHERE v.c IS DISTINCT FROM r.c OR v.nx IS DISTINCT FROM r.nx
     OR v.sx IS DISTINCT FROM r.sx OR v.sy IS DISTINCT FROM r.sy
     OR v.minx IS DISTINCT FROM r.minx OR v.maxx IS DISTINCT FROM r.maxx
     OR abs(v.ax - r.ax) > abs(r.ax) * 1e-15
$$;

-- values of all magnitudes (m up to 2^52, so x = m * 2^-10 is exact)
CREATE FUNCTION fl_m() RETURNS bigint LANGUAGE sql AS $$
  SELECT CASE WHEN random() < 0.1 THEN NULL
         ELSE ((random() - 0.5) * 2 ^ (1 + floor(random() * 52)))::bigint END $$;
CREATE FUNCTION fl_row(i int) RETURNS fl LANGUAGE sql AS $$
  SELECT i, floor(random() * 5)::int, m, m * 0.0009765625::float8,
         (floor(random() * 2000) - 1000)::float4 / 8
  FROM (SELECT fl_m() AS m) s $$;

SELECT setseed(0.7);
INSERT INTO fl SELECT r.* FROM generate_series(1, 300) i, LATERAL fl_row(i) r;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT fl_mismatches() AS after_inserts;

-- a history of updates and deletes, in many transactions
DO $$
BEGIN
  FOR i IN 1 .. 400 LOOP
    IF random() < 0.5 THEN
      UPDATE fl SET m = n.m, x = n.x, y = n.y, g = n.g FROM fl_row(0) n WHERE fl.id = 1 + floor(random() * 300)::int;
    ELSIF random() < 0.5 THEN
      DELETE FROM fl WHERE id = 1 + floor(random() * 300)::int;
    ELSE
      INSERT INTO fl SELECT * FROM fl_row(300 + i) ON CONFLICT (id) DO NOTHING;
    END IF;
  END LOOP;
END
$$;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT fl_mismatches() AS after_history;

-- where float addition loses a value the exact sum keeps
INSERT INTO fl VALUES (1001, 9, NULL, 1e20, 1), (1002, 9, NULL, 1, 1), (1003, 9, NULL, -1e20, 1);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT sx AS exact_sum FROM fl_agg WHERE g = 9;

-- infinities and NaN while present, and gone without a trace
INSERT INTO fl VALUES (1004, 9, NULL, 'Infinity', 'Infinity');
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT sx, ax, sy FROM fl_agg WHERE g = 9;
INSERT INTO fl VALUES (1005, 9, NULL, '-Infinity', 1);
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT sx, ax, sy FROM fl_agg WHERE g = 9;
UPDATE fl SET x = 'NaN' WHERE id = 1005;
DELETE FROM fl WHERE id = 1004;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT sx, ax, sy FROM fl_agg WHERE g = 9;
DELETE FROM fl WHERE id = 1005;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT sx, ax, sy FROM fl_agg WHERE g = 9;
DELETE FROM fl WHERE g = 9;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT fl_mismatches() AS at_the_end;

-- refresh computes the same state from scratch
SELECT eventstream.refresh_aggregate('fl_agg');
SELECT fl_mismatches() AS after_refresh;

SELECT eventstream.drop_aggregate('fl_agg');
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP FUNCTION fl_mismatches(), fl_m(), fl_row(int);
DROP TABLE fl;
