/* pg_eventstream--0.3.0--0.4.0.sql: update 0.3.0 to 0.4.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_eventstream UPDATE TO '0.4.0'" to load this file. \quit

-- No table, type or view of 0.3.0 changes.  What follows (the Makefile
-- appends it) is the SQL files that are new or changed in 0.4.0:
--   src/stream/access.sql  who may read a stream (_unreadable_table, now
--                          PL/pgSQL, its plan kept for the session;
--                          _may_read_stream, _check_read), moved here from
--                          stream.sql; OR REPLACE

