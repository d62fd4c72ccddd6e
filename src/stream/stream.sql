-- src/stream/stream.sql: streams, the event log, backfills, emit and read
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Streams and the event log
-- ---------------------------------------------------------------------

-- One row per stream.  Readable by everyone, like pg_publication; written
-- only through create_stream/drop_stream (the worker never writes it: a
-- stream's last id is the max(id) of its log).
CREATE TABLE eventstream.stream_catalog (
	id serial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	owner regrole NOT NULL,
	tables text[] NOT NULL,			-- schema.table patterns, plugin syntax
	named_tables regclass[] NOT NULL,	-- tables named without wildcards
	operations text[] NOT NULL,
	retention interval,
	segment_size bigint NOT NULL CHECK (segment_size >= 10),
	created_at timestamptz NOT NULL DEFAULT now(),
	created_lsn pg_lsn NOT NULL,
	-- set by the worker in the transaction that moves its origin past the
	-- creation: a worker behind it must not give it earlier changes
	active boolean NOT NULL DEFAULT false,
	-- came from a dump: inactive until finish_restore() (restore.sql)
	restored boolean NOT NULL DEFAULT false
);
GRANT SELECT ON eventstream.stream_catalog TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.stream_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.stream_catalog_id_seq', '');

-- The log: one partition ("segment") per stream and range of ids, made by
-- the worker as ids reach it and dropped whole by retention.  Each segment
-- has its own primary key (stream_id, id) (src/stream/segments.c), the log
-- none: its partition key makes the segments' keys unique together, and
-- segments that are tables of their own restore from pg_dump as they are.
-- The segments are not members of the extension: pg_dump dumps them, and
-- so the events, with the database.
CREATE TABLE eventstream.event_log (
	stream_id integer NOT NULL,
	id bigint NOT NULL,
	op text NOT NULL,
	schema_name text,
	table_name text,
	relid regclass,
	key jsonb,
	old jsonb,
	new jsonb,
	lsn pg_lsn,
	commit_lsn pg_lsn,
	xid xid8,
	commit_time timestamptz,
	seq integer
) PARTITION BY RANGE (stream_id, id);

-- may the current user read the emit() messages of a stream, and the
-- events of its tables that were dropped?  Its owners may.
CREATE FUNCTION eventstream._may_read_messages(stream_id integer)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT coalesce((SELECT pg_catalog.pg_has_role(c.owner, 'USAGE')
					 FROM eventstream.stream_catalog c
					 WHERE c.id = stream_id), false)
$$;

-- Whatever path reads the log, a row is visible only to roles that may
-- SELECT the table it came from and see all its rows: where the table's
-- own row-level security applies to the reader, none of its events are
-- visible.  Messages, and the events of tables dropped since, only to the
-- stream's owners.
GRANT SELECT ON eventstream.event_log TO PUBLIC;
ALTER TABLE eventstream.event_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_visibility ON eventstream.event_log FOR SELECT
	USING (CASE WHEN relid IS NOT NULL
				THEN coalesce(pg_catalog.has_table_privilege(relid, 'SELECT')
							  AND NOT pg_catalog.row_security_active(relid),
							  eventstream._may_read_messages(stream_id))
				ELSE eventstream._may_read_messages(stream_id) END);

CREATE TYPE eventstream.event AS (
	stream text,
	id bigint,
	op text,
	schema_name text,
	table_name text,
	key jsonb,
	old jsonb,
	new jsonb,
	lsn pg_lsn,
	commit_lsn pg_lsn,
	xid xid8,
	commit_time timestamptz,
	seq integer
);

-- Backfills: the tables a stream with backfill => true reads, and the
-- progress the worker records with each chunk's events (insert-only).
CREATE TABLE eventstream.backfill_catalog (
	stream_id integer NOT NULL REFERENCES eventstream.stream_catalog (id) ON DELETE CASCADE,
	relid regclass NOT NULL,
	schema_name text NOT NULL,
	table_name text NOT NULL,
	rows_estimated bigint,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (stream_id, relid)
);
CREATE TABLE eventstream.backfill_progress (
	stream_id integer NOT NULL,
	relid regclass NOT NULL,
	chunk_no bigint NOT NULL,
	last_key text[],
	rows bigint NOT NULL,
	done boolean NOT NULL,
	error text,						-- the backfill stopped: why
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (stream_id, relid, chunk_no)
);
GRANT SELECT ON eventstream.backfill_catalog, eventstream.backfill_progress TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.backfill_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.backfill_progress', '');

CREATE VIEW eventstream.backfills AS
	SELECT s.name AS stream,
		   b.schema_name,
		   b.table_name,
		   CASE WHEN p.error IS NOT NULL THEN 'failed' WHEN p.done THEN 'done'
				WHEN p.chunks > 0 THEN 'running' ELSE 'pending' END AS state,
		   coalesce(p.rows, 0) AS rows_done,
		   b.rows_estimated,
		   coalesce(p.chunks, 0) AS chunks,
		   b.created_at,
		   p.last_at AS updated_at,
		   p.error
	FROM eventstream.backfill_catalog b
	JOIN eventstream.stream_catalog s ON s.id = b.stream_id
	LEFT JOIN (SELECT stream_id, relid, sum(rows) AS rows, count(*) FILTER (WHERE NOT done) AS chunks,
					  bool_or(done) AS done, max(at) AS last_at, max(error) AS error
			   FROM eventstream.backfill_progress GROUP BY stream_id, relid) p
		ON p.stream_id = b.stream_id AND p.relid = b.relid;
GRANT SELECT ON eventstream.backfills TO PUBLIC;

CREATE FUNCTION eventstream.create_stream(name text, tables text[],
	operations text[] DEFAULT '{insert,update,delete,truncate}',
	retention interval DEFAULT NULL,
	backfill boolean DEFAULT false)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_create_stream';
COMMENT ON FUNCTION eventstream.create_stream(text, text[], text[], interval, boolean) IS
  'create a stream of the changes of tables (names or schema.table patterns)';

CREATE FUNCTION eventstream.drop_stream(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_drop_stream';
COMMENT ON FUNCTION eventstream.drop_stream(text) IS
  'drop a stream and its events';

-- The log's segments: each stream's, by number, read back from their
-- names by the rule that makes them (src/stream/segments.c).
CREATE FUNCTION eventstream._segments()
RETURNS TABLE (rel regclass, stream_id integer, segno bigint)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'eventstream_segments';

-- Drop a segment, unless a reader (or the worker's batch) holds the log or
-- the segment: then false, and a later retention pass drops it.  nowait:
-- do not wait at all; else wait as long as the caller's lock_timeout.
CREATE FUNCTION eventstream._drop_segment(seg regclass, nowait boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (ONLY: the log itself, not the other streams' segments)
	EXECUTE format('LOCK TABLE ONLY eventstream.event_log, %s IN ACCESS EXCLUSIVE MODE%s',
				   seg, CASE WHEN nowait THEN ' NOWAIT' ELSE '' END);
	EXECUTE format('DROP TABLE %s', seg);
	RETURN true;
EXCEPTION WHEN lock_not_available THEN
	RETURN false;
END
$$;
REVOKE ALL ON FUNCTION eventstream._drop_segment(regclass, boolean) FROM PUBLIC;

-- drop_stream's privileged part, run as the extension's owner.  Readers
-- never make it wait: the segments that a reader (or the worker's batch)
-- holds at that moment are left to the worker, which drops the segments
-- of streams no longer in the catalog as it applies retention.
CREATE FUNCTION eventstream._drop_stream(stream_id integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	seg regclass;
BEGIN
	DELETE FROM eventstream.stream_catalog c WHERE c.id = stream_id;
	DELETE FROM eventstream.backfill_progress p WHERE p.stream_id = _drop_stream.stream_id;
	FOR seg IN SELECT g.rel FROM eventstream._segments() g WHERE g.stream_id = _drop_stream.stream_id
	LOOP
		EXIT WHEN NOT eventstream._drop_segment(seg, true);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION eventstream._drop_stream(integer) FROM PUBLIC;

-- The secret emit() signs its messages with, so that no role can add to
-- a stream through pg_logical_emit_message (src/stream/message.c).  Not
-- dumped: a restored database makes its own.
CREATE TABLE eventstream.message_key (key bytea NOT NULL CHECK (length(key) = 32));
REVOKE ALL ON eventstream.message_key FROM PUBLIC;
INSERT INTO eventstream.message_key
	SELECT pg_catalog.decode(pg_catalog.md5(pg_catalog.gen_random_uuid()::text) ||
							 pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 'hex');

CREATE FUNCTION eventstream.emit(stream text, payload jsonb, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_emit';
COMMENT ON FUNCTION eventstream.emit(text, jsonb, text) IS
  'add an event to a stream when the calling transaction commits';

-- the id of a stream, or an error naming it
CREATE FUNCTION eventstream._stream_id(stream text)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sid integer;
BEGIN
	IF stream IS NULL THEN
		RAISE EXCEPTION 'stream must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c.id INTO sid FROM eventstream.stream_catalog c WHERE c.name = stream;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'stream "%" does not exist', stream
			USING ERRCODE = 'undefined_object',
				  HINT = 'The streams are listed in eventstream.streams.';
	END IF;
	RETURN sid;
END
$$;

-- The events of a stream after after_id, for the reader's rights: the one
-- place that lists the event's columns.  Plain SQL without settings, so
-- that the planner inlines it into the query that calls it (and pushes a
-- caller's "id <= n" into the index scan).  No upper bound of its own: a
-- generic plan then still reads the log in id order and stops at a LIMIT.
CREATE FUNCTION eventstream._events(stream text, sid integer, after_id bigint)
RETURNS SETOF eventstream.event
LANGUAGE sql STABLE
AS $$
	SELECT stream, l.id, l.op, l.schema_name, l.table_name, l.key, l.old, l.new,
		   l.lsn, l.commit_lsn, l.xid, l.commit_time, l.seq
	  FROM eventstream.event_log l
	 WHERE l.stream_id = sid AND l.id > after_id
	 ORDER BY l.id
$$;

CREATE FUNCTION eventstream.read(stream text, after_id bigint DEFAULT 0,
	max_events integer DEFAULT 1000)
RETURNS SETOF eventstream.event
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sid integer := eventstream._stream_id(stream);
BEGIN
	IF after_id IS NULL OR after_id < 0 THEN
		RAISE EXCEPTION 'after_id must be a non-negative id, not %', coalesce(after_id::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF max_events IS NULL OR max_events < 1 THEN
		RAISE EXCEPTION 'max_events must be at least 1, not %', coalesce(max_events::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM eventstream._check_read(stream, sid);
	RETURN QUERY
		SELECT * FROM eventstream._events(stream, sid, after_id) LIMIT max_events;
END
$$;
COMMENT ON FUNCTION eventstream.read(text, bigint, integer) IS
  'events of a stream after an id, in id order';

-- A view of one table's events in a stream, with old and new as rows of
-- the table's type.  It is the caller's: it reads with the reader's rights.
-- (No SET search_path: an unqualified view name goes to the caller's
-- current schema; everything else is qualified.)
CREATE FUNCTION eventstream.create_stream_view(view text, stream text, "table" regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	sid integer := eventstream._stream_id(stream);
	view_name text;
	fix_old text := '';
	fix_new text := '';
	col record;
BEGIN
	IF view IS NULL OR "table" IS NULL THEN
		RAISE EXCEPTION 'view and table must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- quote every part again: the name cannot smuggle SQL in
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), '.')
		INTO view_name FROM pg_catalog.unnest(pg_catalog.parse_ident(view)) p;
	IF NOT pg_catalog.has_table_privilege("table", 'SELECT') THEN
		RAISE EXCEPTION 'permission denied for table %', "table"
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	PERFORM eventstream._check_read(stream, sid);
	-- bytea is base64 in events: decode it before the row is built
	FOR col IN
		SELECT a.attname FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = "table" AND a.attnum > 0 AND NOT a.attisdropped
		  AND a.atttypid = 'pg_catalog.bytea'::pg_catalog.regtype
	LOOP
		fix_old := fix_old || pg_catalog.format(
			' || CASE WHEN pg_catalog.jsonb_typeof(l.old->%1$L) = ''string'' THEN pg_catalog.jsonb_build_object(%1$L, pg_catalog.decode(l.old->>%1$L, ''base64'')) ELSE ''{}'' END',
			col.attname);
		fix_new := fix_new || pg_catalog.format(
			' || CASE WHEN pg_catalog.jsonb_typeof(l.new->%1$L) = ''string'' THEN pg_catalog.jsonb_build_object(%1$L, pg_catalog.decode(l.new->>%1$L, ''base64'')) ELSE ''{}'' END',
			col.attname);
	END LOOP;
	EXECUTE pg_catalog.format(
		'CREATE VIEW %s WITH (security_invoker = true) AS '
		'SELECT l.id, l.op, l.key, '
		'pg_catalog.jsonb_populate_record(NULL::%s, l.old%s) AS old, '
		'pg_catalog.jsonb_populate_record(NULL::%s, l.new%s) AS new, '
		'l.lsn, l.commit_lsn, l.xid, l.commit_time, l.seq '
		'FROM eventstream.event_log l WHERE l.stream_id = %s AND l.relid = %s',
		view_name, "table", fix_old, "table", fix_new, sid, "table"::oid);
END
$$;
COMMENT ON FUNCTION eventstream.create_stream_view(text, text, regclass) IS
  'create a view of one table''s events in a stream, old and new typed as the table''s rows';

-- Counts come from the log as the reader may see it (security_invoker):
-- no one learns how many events there are of tables they may not read.
CREATE VIEW eventstream.streams WITH (security_invoker = true) AS
	SELECT c.name,
		   c.owner::regrole AS owner,
		   c.tables,
		   c.operations,
		   c.retention,
		   CASE WHEN eventstream._may_read_stream(c.id) THEN
		   (SELECT min(l.id) FROM eventstream.event_log l WHERE l.stream_id = c.id) END AS first_id,
		   CASE WHEN eventstream._may_read_stream(c.id) THEN
		   coalesce((SELECT max(l.id) FROM eventstream.event_log l WHERE l.stream_id = c.id), 0) END AS last_id,
		   (SELECT count(*) FROM eventstream._segments() g WHERE g.stream_id = c.id) AS segments,
		   c.segment_size,
		   c.created_at
	FROM eventstream.stream_catalog c;
GRANT SELECT ON eventstream.streams TO PUBLIC;

-- Drop the segments whose events are all older than their stream's
-- retention; called by the worker.  A segment is past retention when the
-- first event of the next one committed before the cutoff.
CREATE FUNCTION eventstream._apply_retention()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '100ms'
AS $$
DECLARE
	s record;
	seg record;
	last_id bigint;
	next_time timestamptz;
BEGIN
	-- the segments of dropped streams (drop_stream leaves them to us)
	FOR seg IN
		SELECT g.rel FROM eventstream._segments() g
		WHERE NOT EXISTS (SELECT 1 FROM eventstream.stream_catalog c WHERE c.id = g.stream_id)
	LOOP
		EXIT WHEN NOT eventstream._drop_segment(seg.rel, false);	-- held: next time
	END LOOP;
	FOR s IN
		SELECT c.id, c.retention, c.segment_size
		FROM eventstream.stream_catalog c
		WHERE c.retention IS NOT NULL
	LOOP
		-- (not in the loop's query: an open scan of the log blocks DROP)
		SELECT max(l.id) INTO last_id FROM eventstream.event_log l WHERE l.stream_id = s.id;
		CONTINUE WHEN last_id IS NULL;
		FOR seg IN
			SELECT g.rel, g.segno FROM eventstream._segments() g
			WHERE g.stream_id = s.id ORDER BY g.segno
		LOOP
			-- never the segment that holds the newest event
			EXIT WHEN seg.segno >= (last_id - 1) / s.segment_size;
			SELECT l.commit_time INTO next_time
			FROM eventstream.event_log l
			WHERE l.stream_id = s.id AND l.id = (seg.segno + 1) * s.segment_size + 1;
			EXIT WHEN next_time IS NULL OR next_time >= now() - s.retention;
			EXIT WHEN NOT eventstream._drop_segment(seg.rel, false);	-- held: next time
		END LOOP;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION eventstream._apply_retention() FROM PUBLIC;
