--
-- extension: CREATE EXTENSION, the schema and the version function.
--
CREATE EXTENSION pg_eventstream;
SELECT eventstream.version();
SELECT extversion = eventstream.version() AS versions_match
  FROM pg_extension WHERE extname = 'pg_eventstream';
SELECT nspname FROM pg_namespace n JOIN pg_extension e ON e.extnamespace = n.oid
 WHERE extname = 'pg_eventstream';
-- settings under eventstream. are reserved for the extension
SET eventstream.no_such_setting = 1;
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
SELECT count(*) FROM pg_namespace WHERE nspname = 'eventstream';
