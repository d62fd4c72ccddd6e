/* pg_eventstream--0.1.0--0.2.0.sql: update 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_eventstream UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------
-- 1. Columns that name a table or a role become regclass and regrole,
--    so pg_dump writes names, not OIDs of the old database (the same
--    bytes: no table is rewritten).  The views and policies that read
--    them are taken down and made again from their own definitions.
-- ---------------------------------------------------------------------

DO $$
DECLARE
	views jsonb;
	policies jsonb;
	r jsonb;
	g text;
BEGIN
	SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
			   'name', c.oid::regclass::text,
			   'options', pg_catalog.array_to_string(c.reloptions, ', '),
			   'def', pg_catalog.pg_get_viewdef(c.oid),
			   'comment', pg_catalog.obj_description(c.oid, 'pg_class'),
			   'grants', (SELECT pg_catalog.jsonb_agg(pg_catalog.format('GRANT %s ON %s TO %s',
								  a.privilege_type, c.oid::regclass,
								  CASE WHEN a.grantee = 0 THEN 'PUBLIC'
									   ELSE pg_catalog.quote_ident(a.grantee::regrole::text) END))
						  FROM pg_catalog.aclexplode(c.relacl) a WHERE a.grantee <> c.relowner))
			   ORDER BY c.oid), '[]')
	  INTO views
	  FROM pg_catalog.pg_class c
	 WHERE c.relnamespace = 'eventstream'::regnamespace AND c.relkind = 'v'
	   AND c.relname IN ('streams', 'backfills', 'consumers', 'aggregates', 'sinks', 'dead_letters');
	SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(p)), '[]')
	  INTO policies
	  FROM pg_catalog.pg_policies p
	 WHERE p.schemaname = 'eventstream'
	   AND p.tablename IN ('event_log', 'consumer_catalog', 'consumer_partitions', 'consumer_members');

	FOR r IN SELECT * FROM pg_catalog.jsonb_array_elements(views) LOOP
		EXECUTE pg_catalog.format('DROP VIEW %s', r->>'name');
	END LOOP;
	FOR r IN SELECT * FROM pg_catalog.jsonb_array_elements(policies) LOOP
		EXECUTE pg_catalog.format('DROP POLICY %I ON %I.%I', r->>'policyname', r->>'schemaname', r->>'tablename');
	END LOOP;

	ALTER TABLE eventstream.stream_catalog
		ALTER owner TYPE regrole, ALTER named_tables TYPE regclass[];
	ALTER TABLE eventstream.event_log ALTER relid TYPE regclass;
	ALTER TABLE eventstream.backfill_catalog ALTER relid TYPE regclass;
	ALTER TABLE eventstream.backfill_progress ALTER relid TYPE regclass;
	ALTER TABLE eventstream.consumer_catalog ALTER owner TYPE regrole;
	ALTER TABLE eventstream.aggregate_catalog
		ALTER view_relid TYPE regclass, ALTER mat_relid TYPE regclass,
		ALTER source_relid TYPE regclass, ALTER owner TYPE regrole;
	ALTER TABLE eventstream.sink_catalog ALTER owner TYPE regrole;

	FOR r IN SELECT * FROM pg_catalog.jsonb_array_elements(policies) LOOP
		EXECUTE pg_catalog.format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s',
			r->>'policyname', r->>'schemaname', r->>'tablename', r->>'permissive', r->>'cmd',
			(SELECT pg_catalog.string_agg(x, ', ') FROM pg_catalog.jsonb_array_elements_text(r->'roles') x),
			CASE WHEN r->>'qual' IS NOT NULL THEN ' USING (' || (r->>'qual') || ')' ELSE '' END,
			CASE WHEN r->>'with_check' IS NOT NULL THEN ' WITH CHECK (' || (r->>'with_check') || ')' ELSE '' END);
	END LOOP;
	FOR r IN SELECT * FROM pg_catalog.jsonb_array_elements(views) LOOP
		EXECUTE pg_catalog.format('CREATE VIEW %s%s AS %s', r->>'name',
			CASE WHEN r->>'options' <> '' THEN ' WITH (' || (r->>'options') || ')' ELSE '' END,
			r->>'def');
		IF r->>'comment' IS NOT NULL THEN
			EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', r->>'name', r->>'comment');
		END IF;
		FOR g IN SELECT * FROM pg_catalog.jsonb_array_elements_text(coalesce(r->'grants', '[]')) LOOP
			EXECUTE g;
		END LOOP;
	END LOOP;
END
$$;

-- ---------------------------------------------------------------------
-- 2. The log without a key of its own: each segment keeps the one it has
--    (detached, a segment's index becomes its own; attaching it again
--    scans it once to check its range), so pg_dump can restore them.
-- ---------------------------------------------------------------------

DO $$
DECLARE
	segments jsonb;
	seg jsonb;
BEGIN
	SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
			   'rel', i.inhrelid::regclass::text,
			   'bound', pg_catalog.pg_get_expr(c.relpartbound, c.oid))), '[]')
	  INTO segments
	  FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
	 WHERE i.inhparent = 'eventstream.event_log'::regclass;
	FOR seg IN SELECT * FROM pg_catalog.jsonb_array_elements(segments) LOOP
		EXECUTE pg_catalog.format('ALTER TABLE eventstream.event_log DETACH PARTITION %s', seg->>'rel');
	END LOOP;
	ALTER TABLE eventstream.event_log DROP CONSTRAINT event_log_pkey;
	FOR seg IN SELECT * FROM pg_catalog.jsonb_array_elements(segments) LOOP
		EXECUTE pg_catalog.format('ALTER TABLE eventstream.event_log ATTACH PARTITION %s %s',
								  seg->>'rel', seg->>'bound');
	END LOOP;
END
$$;

-- ---------------------------------------------------------------------
-- 3. Dumps keep every definition: aggregates and sinks too, and the
--    sequences of the catalogs' ids; definitions restored from a dump
--    wait for finish_restore() (restore.sql, below).
-- ---------------------------------------------------------------------

ALTER TABLE eventstream.stream_catalog ADD COLUMN restored boolean NOT NULL DEFAULT false;
ALTER TABLE eventstream.aggregate_catalog ADD COLUMN restored boolean NOT NULL DEFAULT false;

SELECT pg_catalog.pg_extension_config_dump('eventstream.stream_catalog_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_catalog_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.aggregate_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.aggregate_catalog_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_catalog_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_partitions', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.dead_letter_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.dead_letter_catalog_id_seq', '');

-- ---------------------------------------------------------------------
-- 4. Continuous aggregates keep sums of floats exact
-- ---------------------------------------------------------------------

CREATE FUNCTION eventstream._float8_exact_finite(float8)
RETURNS numeric
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'eventstream_float8_exact_finite';

-- ---------------------------------------------------------------------
-- 5. Aggregates pin the date/time settings their functions depend on
-- ---------------------------------------------------------------------

ALTER TABLE eventstream.aggregate_catalog ADD COLUMN settings text[];
CREATE OR REPLACE VIEW eventstream.aggregates AS
	SELECT a.view_relid::regclass AS name,
		   a.source_relid::regclass AS source,
		   a.state,
		   a.error,
		   a.append_only,
		   w.applied_lsn,
		   w.lag_bytes,
		   w.lag_seconds,
		   eventstream._aggregate_groups(a.id) AS groups,
		   a.mat_relid::regclass AS materialization,
		   a.query,
		   a.owner::regrole AS owner,
		   a.created_at,
		   a.refreshed_at,
		   a.settings
	FROM eventstream.aggregate_catalog a
	LEFT JOIN eventstream.status w ON true;

