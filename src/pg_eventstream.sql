/* pg_eventstream--0.5.0.sql: SQL objects of pg_eventstream 0.5.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pg_eventstream" to load this file. \quit

-- The output plugin needs none of this: it works with or without
-- CREATE EXTENSION.  The schema "eventstream" is where the streams,
-- consumers, aggregates and sinks of later releases live.

CREATE FUNCTION eventstream.version()
RETURNS text
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'eventstream_version';

COMMENT ON FUNCTION eventstream.version() IS
  'version of the loaded pg_eventstream library';
