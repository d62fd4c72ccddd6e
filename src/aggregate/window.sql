-- src/aggregate/window.sql: sliding windows over continuous aggregates
-- (concatenated into the install script by the Makefile, and into the
-- update from 0.2.0, which adds it)
--
-- A window is a view over an aggregate grouped by a timestamptz bucket:
-- the buckets that start within the last width, combined per other key
-- (src/aggregate/window.c).  With drop_older, the worker deletes the
-- aggregate's buckets older than the widest such window.

CREATE TABLE eventstream.window_catalog (
	view_relid regclass PRIMARY KEY,
	aggregate_id integer NOT NULL REFERENCES eventstream.aggregate_catalog (id) ON DELETE CASCADE,
	width interval NOT NULL CHECK (width > interval '0'),
	bucket_column name NOT NULL,
	drop_older boolean NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('eventstream.window_catalog', '');
GRANT SELECT ON eventstream.window_catalog TO PUBLIC;

CREATE FUNCTION eventstream.create_window(name text, aggregate regclass, width interval,
	drop_older boolean DEFAULT true)
RETURNS regclass
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_create_window';
COMMENT ON FUNCTION eventstream.create_window(text, regclass, interval, boolean) IS
  'a view of an aggregate''s buckets that start within the last width, combined';

CREATE FUNCTION eventstream.drop_window(name regclass)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_drop_window';
COMMENT ON FUNCTION eventstream.drop_window(regclass) IS 'drop a window';

CREATE VIEW eventstream.windows AS
	SELECT w.view_relid AS name, a.view_relid AS aggregate, w.width, w.bucket_column,
		   w.drop_older, w.created_at
	FROM eventstream.window_catalog w
	JOIN eventstream.aggregate_catalog a ON a.id = w.aggregate_id;
GRANT SELECT ON eventstream.windows TO PUBLIC;

-- forget windows whose view was dropped, and touch their aggregates' rows:
-- the worker reads the aggregates again when their catalog changes, and
-- with them what to keep (create_window touches the row too)
CREATE FUNCTION eventstream._forget_dropped_windows()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
	WITH gone AS (
		DELETE FROM eventstream.window_catalog w
		 USING pg_catalog.pg_event_trigger_dropped_objects() d
		 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.objid = w.view_relid
		RETURNING w.aggregate_id)
	UPDATE eventstream.aggregate_catalog a SET state = a.state
	 WHERE a.id IN (SELECT g.aggregate_id FROM gone g);
END
$$;
REVOKE ALL ON FUNCTION eventstream._forget_dropped_windows() FROM PUBLIC;
CREATE EVENT TRIGGER eventstream_forget_dropped_windows ON sql_drop
	EXECUTE FUNCTION eventstream._forget_dropped_windows();
