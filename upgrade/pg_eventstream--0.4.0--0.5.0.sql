/* pg_eventstream--0.4.0--0.5.0.sql: update 0.4.0 to 0.5.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_eventstream UPDATE TO '0.5.0'" to load this file. \quit

-- No table, type or view of 0.4.0 changes.
--
-- What follows (the Makefile appends it) is the SQL files that are new or
-- changed in 0.5.0, all OR REPLACE:
--   src/consumer/positions.sql  _held_range: how many partitions a member
--                               holds and their least and greatest
--                               positions in one pass, no array;
--                               _held_positions; commit reads every
--                               partition only when the member's row
--                               cannot say
--   src/consumer/poll.sql       poll builds the array of positions only
--                               when they differ
