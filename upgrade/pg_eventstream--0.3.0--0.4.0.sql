/* pg_eventstream--0.3.0--0.4.0.sql: update 0.3.0 to 0.4.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_eventstream UPDATE TO '0.4.0'" to load this file. \quit

-- No table, type or view of 0.3.0 changes.  _lease returns nothing now
-- (its caller never used the partitions it listed, which cost a read of
-- them on every poll), a change OR REPLACE cannot make:
DROP FUNCTION eventstream._lease(eventstream.consumer_catalog, text, interval);

-- What follows (the Makefile appends it) is the SQL files that are new or
-- changed in 0.4.0:
--   src/stream/access.sql  who may read a stream (_unreadable_table, now
--                          PL/pgSQL, its plan kept for the session;
--                          _may_read_stream, _check_read), moved here from
--                          stream.sql; OR REPLACE
--   src/consumer/poll.sql  a member holding every partition at one position
--                          reads an id range, as an unpartitioned consumer
--                          does; _lease counts what it holds; OR REPLACE

