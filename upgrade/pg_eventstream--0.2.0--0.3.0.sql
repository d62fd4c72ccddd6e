/* pg_eventstream--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_eventstream UPDATE TO '0.3.0'" to load this file. \quit

-- A member of a partitioned consumer keeps how far its partitions are
-- delivered and committed in its own row (src/consumer/positions.sql), and
-- the members are dumped with the consumers.
ALTER TABLE eventstream.consumer_members ADD COLUMN committed bigint, ADD COLUMN delivered bigint;
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_members', '');

-- What follows (the Makefile appends it) is the SQL files that are new or
-- changed in 0.3.0:
--   src/consumer/positions.sql positions, commit, seek and the consumers
--                              view, moved here from consumer.sql; OR REPLACE
--   src/consumer/poll.sql      a partitioned poll's scan (_scan_partitions),
--                              leases renewed once a quarter (_lease moved
--                              here from consumer.sql); OR REPLACE
--   src/aggregate/distinct.sql count(DISTINCT x) and the hll sketches
--   src/aggregate/window.sql   sliding windows (new objects)
--   src/api/metrics.sql        the metrics view, reading the positions of
--                              partitions as positions.sql defines; OR REPLACE
