--
-- partitions: changes of partitioned tables under the leaf partition, or
-- under the root with publish-via-root; table patterns that name the root
-- also select its partitions.
--
SELECT 'init' FROM pg_create_logical_replication_slot('parts', 'pg_eventstream');

CREATE TABLE measurements(city int, ts date, v int, PRIMARY KEY (city, ts))
  PARTITION BY RANGE (ts);
CREATE TABLE measurements_2025 PARTITION OF measurements
  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- a sub-partitioned leaf whose columns are in another order
CREATE TABLE measurements_2026 (v int, ts date NOT NULL, city int NOT NULL)
  PARTITION BY LIST (city);
CREATE TABLE measurements_2026_c1 PARTITION OF measurements_2026 FOR VALUES IN (1);
ALTER TABLE measurements_2026_c1 ADD PRIMARY KEY (city, ts);
ALTER TABLE measurements ATTACH PARTITION measurements_2026
  FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

INSERT INTO measurements VALUES (1, '2025-06-01', 10), (1, '2026-06-01', 20);
UPDATE measurements SET v = v + 1;
UPDATE measurements SET ts = '2026-07-01' WHERE ts = '2025-06-01';  -- moves partition
DELETE FROM measurements WHERE v = 21;
TRUNCATE measurements;

SELECT * FROM es_peek('parts');
SELECT * FROM es_peek('parts', 'publish-via-root', 'true');
SELECT * FROM es_peek('parts', 'publish-via-root', 'true', 'include-schema', 'true', 'operations', 'insert');
-- a pattern naming the root selects the partitions, excluding a leaf works
SELECT count(*) FROM es_peek('parts', 'tables', 'public.measurements');
SELECT DISTINCT data::jsonb->>'table' FROM es_peek('parts', 'exclude-tables', 'public.measurements_2025') AS data;
SELECT count(*) FROM es_peek('parts', 'exclude-tables', 'public.measurements');
SELECT 'consumed' FROM es_changes('parts') LIMIT 1;
SELECT pg_drop_replication_slot('parts');
