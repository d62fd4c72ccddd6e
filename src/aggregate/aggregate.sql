-- src/aggregate/aggregate.sql: continuous aggregates
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Continuous aggregates: a view over a table the worker keeps up to date
-- ---------------------------------------------------------------------

-- One row per aggregate.  The SQL the worker runs is made once, at
-- creation, from the analysed query (src/aggregate/analyze.c).
CREATE TABLE eventstream.aggregate_catalog (
	id serial PRIMARY KEY,
	view_relid regclass NOT NULL UNIQUE,
	mat_relid regclass NOT NULL UNIQUE,
	source_relid regclass NOT NULL,
	query text NOT NULL,
	append_only boolean NOT NULL,
	grouped boolean NOT NULL,
	state text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'stale', 'failed')),
	-- set by the worker in the transaction that moves its origin past the
	-- creation: a worker behind it must not apply earlier changes to it
	active boolean NOT NULL DEFAULT false,
	error text,
	populate_sql text NOT NULL,
	delta_sql text NOT NULL,
	recompute_sql text,				-- a min/max group with a NULL key
	recompute_keyed_sql text,		-- one without: indexable
	empty_sql text,
	owner regrole NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	refreshed_at timestamptz,
	-- came from a dump: inactive until finish_restore() (restore.sql)
	restored boolean NOT NULL DEFAULT false,
	-- "name=value" of TimeZone, DateStyle, IntervalStyle at creation, for
	-- a query with date/time functions that depend on them; else NULL
	settings text[]
);
GRANT SELECT ON eventstream.aggregate_catalog TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.aggregate_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.aggregate_catalog_id_seq', '');

CREATE FUNCTION eventstream.create_aggregate(name text, query text,
	backfill boolean DEFAULT true, append_only boolean DEFAULT false)
RETURNS regclass
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_create_aggregate';
COMMENT ON FUNCTION eventstream.create_aggregate(text, text, boolean, boolean) IS
  'create a view of an aggregate query that the worker keeps up to date from the change stream';

CREATE FUNCTION eventstream.refresh_aggregate(name regclass)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_refresh_aggregate';
COMMENT ON FUNCTION eventstream.refresh_aggregate(regclass) IS
  'compute an aggregate again from its table, and clear a stale or failed state';

CREATE FUNCTION eventstream.drop_aggregate(name regclass)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_drop_aggregate';
COMMENT ON FUNCTION eventstream.drop_aggregate(regclass) IS
  'drop an aggregate: its view and the table under it';

-- forget aggregates whose view or table was dropped (DROP VIEW, or a
-- DROP TABLE ... CASCADE of the source)
CREATE FUNCTION eventstream._forget_dropped_aggregates()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
	DELETE FROM eventstream.aggregate_catalog a
	 USING pg_catalog.pg_event_trigger_dropped_objects() d
	 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.objid IN (a.view_relid, a.mat_relid);
END
$$;
REVOKE ALL ON FUNCTION eventstream._forget_dropped_aggregates() FROM PUBLIC;
CREATE EVENT TRIGGER eventstream_forget_dropped_aggregates ON sql_drop
	EXECUTE FUNCTION eventstream._forget_dropped_aggregates();

-- the groups of an aggregate, or NULL unless the caller may read its view
CREATE FUNCTION eventstream._aggregate_groups(aggregate_id integer)
RETURNS bigint
LANGUAGE C STRICT STABLE
AS 'MODULE_PATHNAME', 'eventstream_aggregate_groups';

-- a finite float8 as the exact numeric it is (0 for infinities and NaN):
-- sums of floats are kept exact, so a delete undoes its insert
CREATE FUNCTION eventstream._float8_exact_finite(float8)
RETURNS numeric
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'eventstream_float8_exact_finite';

CREATE VIEW eventstream.aggregates AS
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
GRANT SELECT ON eventstream.aggregates TO PUBLIC;
