/* pg_eventstream--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_eventstream UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0 changes no table of 0.2.0.  What follows this header (the Makefile
-- appends it) is the SQL files that are new or changed in 0.3.0:
--   src/consumer/poll.sql      a partitioned poll's scan (_scan_partitions),
--                              leases renewed once a quarter (_lease moved
--                              here from consumer.sql); CREATE OR REPLACE
--   src/aggregate/distinct.sql count(DISTINCT x) and the hll sketches
--   src/aggregate/window.sql   sliding windows (new objects)
