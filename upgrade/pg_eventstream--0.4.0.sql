/* pg_eventstream--0.4.0.sql: SQL objects of pg_eventstream 0.4.0 */

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
-- src/stream/access.sql: who may read a stream
-- (concatenated into the install script by the Makefile before
-- stream.sql, whose views use it, and into the update from 0.3.0, which
-- replaces 0.3.0's: hence OR REPLACE)

-- The first table stream sid names that the current user may not read --
-- no SELECT on it, or its row-level security applies to them (events carry
-- whole rows) unless they own the stream -- or NULL.  Views and policies
-- test it per row, and every read and poll once.  PL/pgSQL, so that its
-- plan is made once per session: PostgreSQL 15 plans an SQL function's
-- body again in every transaction that calls it, which cost a poll more
-- than the query itself.  (Its body is checked when first run, so this
-- file may come before the catalog it reads.)
CREATE OR REPLACE FUNCTION eventstream._unreadable_table(sid integer)
RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel oid;
BEGIN
	SELECT t.rel INTO rel
	  FROM eventstream.stream_catalog c,
		   pg_catalog.unnest(c.named_tables) WITH ORDINALITY t(rel, n)
	 WHERE c.id = sid
	   AND (pg_catalog.has_table_privilege(t.rel, 'SELECT') IS FALSE
			OR (pg_catalog.row_security_active(t.rel)
				AND NOT pg_catalog.pg_has_role(c.owner, 'USAGE')))
	 ORDER BY t.n LIMIT 1;
	RETURN rel;
END
$$;

-- may the current user read stream sid?
CREATE OR REPLACE FUNCTION eventstream._may_read_stream(sid integer)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
	SELECT eventstream._unreadable_table(sid) IS NULL
$$;

-- reading a stream needs SELECT on every table it names (and seeing all
-- of its rows): an error that says which and why
CREATE OR REPLACE FUNCTION eventstream._check_read(stream text, sid integer)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel oid := eventstream._unreadable_table(sid);
BEGIN
	-- (the first table of the stream the caller may not read, if any)
	IF rel IS NULL THEN
		RETURN;
	END IF;
	IF has_table_privilege(rel, 'SELECT') IS FALSE THEN
		RAISE EXCEPTION 'permission denied for stream "%"', stream
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('Reading it requires SELECT on table %s.', rel::regclass);
	END IF;
	-- otherwise the table's row-level security applies to the caller,
	-- which would hide some of its rows
	RAISE EXCEPTION 'permission denied for stream "%"', stream
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = format('Row-level security of table %s applies to you, so its events are hidden from you.', rel::regclass),
			  HINT = 'Events carry whole rows: only roles that see every row of the table may read them.';
END
$$;
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
-- src/stream/gaps.sql: gaps in capture, and backfill to close them
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Gaps: changes that are in the tables but never reached the streams
-- ---------------------------------------------------------------------

-- The worker records a gap when it starts from a new slot while its
-- origin had applied less than that (a failover: src/worker/gap.c); the
-- range is WAL of this server, so the table is not dumped.
CREATE TABLE eventstream.gap_catalog (
	id serial PRIMARY KEY,
	from_lsn pg_lsn NOT NULL,		-- the origin had applied up to here
	to_lsn pg_lsn NOT NULL,			-- the new slot decodes from here
	reason text NOT NULL,
	detected_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON eventstream.gap_catalog TO PUBLIC;

CREATE VIEW eventstream.gaps AS
	SELECT g.from_lsn, g.to_lsn,
		   pg_catalog.pg_wal_lsn_diff(g.to_lsn, g.from_lsn) AS bytes,
		   g.reason, g.detected_at
	  FROM eventstream.gap_catalog g;
GRANT SELECT ON eventstream.gaps TO PUBLIC;

CREATE FUNCTION eventstream._make_segment(stream_id integer, id bigint)
RETURNS regclass
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'eventstream_make_segment';
REVOKE ALL ON FUNCTION eventstream._make_segment(integer, bigint) FROM PUBLIC;

-- Append a "gap" event to a stream's log, after its last event: no key,
-- new = detail.  By the worker (for a gap of capture) and by
-- finish_restore(); the stream's own events never race it, as neither
-- writes while the worker captures into the stream.
CREATE FUNCTION eventstream._append_gap(stream_id integer, detail jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	next_id bigint;
BEGIN
	LOCK TABLE eventstream.event_log IN ROW EXCLUSIVE MODE;
	SELECT coalesce(max(l.id), 0) + 1 INTO next_id
	  FROM eventstream.event_log l WHERE l.stream_id = _append_gap.stream_id;
	PERFORM eventstream._make_segment(_append_gap.stream_id, next_id);
	INSERT INTO eventstream.event_log (stream_id, id, op, new, lsn, xid, commit_time, seq)
	VALUES (_append_gap.stream_id, next_id, 'gap', detail,
			pg_current_wal_insert_lsn(), pg_current_xact_id(), now(), 0);
	RETURN next_id;
END
$$;
REVOKE ALL ON FUNCTION eventstream._append_gap(integer, jsonb) FROM PUBLIC;

-- the worker's record of a gap: a row, and a gap event in every stream
-- it captures into
CREATE FUNCTION eventstream._record_gap(from_lsn pg_lsn, to_lsn pg_lsn, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
BEGIN
	INSERT INTO eventstream.gap_catalog (from_lsn, to_lsn, reason) VALUES (from_lsn, to_lsn, reason);
	FOR s IN SELECT c.id FROM eventstream.stream_catalog c WHERE c.active ORDER BY c.id LOOP
		PERFORM eventstream._append_gap(s.id, jsonb_build_object(
			'reason', reason, 'from_lsn', from_lsn, 'to_lsn', to_lsn,
			'detail', 'changes committed between these positions are not in the stream'));
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION eventstream._record_gap(pg_lsn, pg_lsn, text) FROM PUBLIC;

CREATE FUNCTION eventstream.backfill(stream text)
RETURNS integer
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_backfill';
COMMENT ON FUNCTION eventstream.backfill(text) IS
  'send the rows of a stream''s tables into it again, as snapshot events (to close a gap); returns the tables';
-- src/worker/worker.sql: the capture worker, its status, and waiting for it
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- The capture worker
-- ---------------------------------------------------------------------

-- At commit of CREATE EXTENSION, ask the launcher for this database's worker.
CREATE FUNCTION eventstream._launch_worker()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'eventstream_launch_worker';
REVOKE ALL ON FUNCTION eventstream._launch_worker() FROM PUBLIC;

-- ---------------------------------------------------------------------
-- Worker status and read-your-writes
-- ---------------------------------------------------------------------

CREATE FUNCTION eventstream._worker_status(
	OUT pid integer, OUT state text, OUT applied_lsn pg_lsn,
	OUT caught_up_at timestamptz, OUT last_batch_at timestamptz,
	OUT events_total bigint, OUT events_per_sec double precision)
RETURNS record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'eventstream_worker_status';

CREATE VIEW eventstream.status AS
	SELECT w.pid,
		   w.state,
		   s.slot_name,
		   s.confirmed_flush_lsn AS confirmed_lsn,
		   w.applied_lsn,
		   pg_catalog.pg_current_wal_lsn() AS current_lsn,
		   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(),
									  greatest(w.applied_lsn, s.confirmed_flush_lsn)) AS lag_bytes,
		   extract(epoch FROM pg_catalog.clock_timestamp() - w.caught_up_at)::double precision AS lag_seconds,
		   w.events_per_sec,
		   w.events_total,
		   w.last_batch_at,
		   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn) AS retained_wal_bytes
	FROM eventstream._worker_status() w
	LEFT JOIN pg_catalog.pg_replication_slots s
		ON s.slot_name = 'eventstream_' || (SELECT d.oid FROM pg_catalog.pg_database d
											WHERE d.datname = pg_catalog.current_database());
-- For monitoring by any role: the counts and times of events (events_total,
-- events_per_sec, last_batch_at) only for members of pg_read_all_stats.
GRANT SELECT ON eventstream.status TO PUBLIC;

CREATE FUNCTION eventstream.sync(timeout interval DEFAULT '10 s')
RETURNS pg_lsn
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_sync';
COMMENT ON FUNCTION eventstream.sync(interval) IS
  'wait until everything committed before the call is in the streams';

-- the counter the worker bumps after each batch that wrote events, and a
-- wait on it (a condition variable in shared memory, no sleep loop)
CREATE FUNCTION eventstream._events_seq()
RETURNS bigint
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'eventstream_events_seq';

CREATE FUNCTION eventstream._wait_for_events(seq bigint, deadline timestamptz)
RETURNS boolean
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'eventstream_wait_for_events';

-- at commit of CREATE EXTENSION: start this database's worker
SELECT eventstream._launch_worker();
-- src/consumer/consumer.sql: consumers: positions, partitions, leases, poll, commit, seek
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Consumers: a position in a stream, committed by the reader
-- ---------------------------------------------------------------------

-- One row per consumer.  Consumers are their owners': row-level security
-- lets roles see every consumer but change only those of roles they
-- belong to, so the consumer functions run with the caller's rights, and
-- commit and seek are part of the caller's transaction.
CREATE TABLE eventstream.consumer_catalog (
	id serial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
	stream_id integer NOT NULL REFERENCES eventstream.stream_catalog (id) ON DELETE CASCADE,
	owner regrole NOT NULL,
	committed bigint NOT NULL CHECK (committed >= 0),
	delivered bigint NOT NULL,
	partitions integer NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 1024),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (delivered >= committed)
);
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_catalog_id_seq', '');

-- Partitioned consumers: a position and a lease per partition.  An
-- event's partition is a hash of its key, so one key always lands in the
-- same partition and keeps its order there.
CREATE TABLE eventstream.consumer_partitions (
	consumer_id integer NOT NULL REFERENCES eventstream.consumer_catalog (id) ON DELETE CASCADE,
	partition integer NOT NULL,
	committed bigint NOT NULL,
	delivered bigint NOT NULL,
	member text,
	lease_until timestamptz,
	PRIMARY KEY (consumer_id, partition)
);
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_partitions', '');
GRANT SELECT, INSERT, UPDATE ON eventstream.consumer_partitions TO PUBLIC;
ALTER TABLE eventstream.consumer_partitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY partition_read ON eventstream.consumer_partitions FOR SELECT
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k WHERE k.id = consumer_id));
CREATE POLICY partition_change ON eventstream.consumer_partitions FOR ALL
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
				   WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
						WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')));

-- the members of partitioned consumers, live while their lease runs; how
-- far every partition a member holds is delivered and committed, beyond
-- the partitions' own rows (positions.sql)
CREATE TABLE eventstream.consumer_members (
	consumer_id integer NOT NULL REFERENCES eventstream.consumer_catalog (id) ON DELETE CASCADE,
	member text NOT NULL,
	lease_until timestamptz NOT NULL,
	PRIMARY KEY (consumer_id, member),
	committed bigint,
	delivered bigint
);
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_members', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON eventstream.consumer_members TO PUBLIC;
ALTER TABLE eventstream.consumer_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY member_read ON eventstream.consumer_members FOR SELECT
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k WHERE k.id = consumer_id));
CREATE POLICY member_change ON eventstream.consumer_members FOR ALL
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
				   WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
						WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')));

-- the partition of an event with this key (or, without a key, this id)
CREATE FUNCTION eventstream.partition_of(key jsonb, id bigint, partitions integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN partitions <= 1 THEN 0
		   ELSE ((pg_catalog.hashtext(coalesce(key::text, id::text))::bigint % partitions + partitions)
				 % partitions)::integer END
$$;
GRANT SELECT, INSERT, DELETE ON eventstream.consumer_catalog TO PUBLIC;
GRANT UPDATE (committed, delivered, updated_at) ON eventstream.consumer_catalog TO PUBLIC;
GRANT USAGE ON SEQUENCE eventstream.consumer_catalog_id_seq TO PUBLIC;
ALTER TABLE eventstream.consumer_catalog ENABLE ROW LEVEL SECURITY;
-- a consumer is seen by its owners and by roles that may read its stream,
-- and made only on a stream its owner may read
CREATE POLICY consumer_read ON eventstream.consumer_catalog FOR SELECT
	USING (pg_catalog.pg_has_role(owner, 'USAGE') OR eventstream._may_read_stream(stream_id));
CREATE POLICY consumer_create ON eventstream.consumer_catalog FOR INSERT
	WITH CHECK (owner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
				AND eventstream._may_read_stream(stream_id));
CREATE POLICY consumer_change ON eventstream.consumer_catalog FOR UPDATE
	USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY consumer_drop ON eventstream.consumer_catalog FOR DELETE
	USING (pg_catalog.pg_has_role(owner, 'USAGE'));

-- the consumer row, for update when it is to be changed; an error names it
CREATE FUNCTION eventstream._consumer(consumer text, for_update boolean)
RETURNS eventstream.consumer_catalog
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog;
BEGIN
	IF consumer IS NULL THEN
		RAISE EXCEPTION 'consumer must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO c FROM eventstream.consumer_catalog k WHERE k.name = consumer;
	IF c.id IS NULL THEN
		RAISE EXCEPTION 'consumer "%" does not exist', consumer
			USING ERRCODE = 'undefined_object',
				  HINT = 'The consumers are listed in eventstream.consumers.';
	END IF;
	IF for_update THEN
		IF NOT pg_has_role(c.owner, 'USAGE') THEN
			RAISE EXCEPTION 'must be owner of consumer "%"', consumer
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		SELECT * INTO c FROM eventstream.consumer_catalog k WHERE k.id = c.id FOR UPDATE;
	END IF;
	RETURN c;
END
$$;

CREATE FUNCTION eventstream.create_consumer(name text, stream text,
	start_at text DEFAULT 'earliest', partitions integer DEFAULT 1)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sid integer := eventstream._stream_id(stream);
	pos bigint;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid consumer name "%"', name
			USING ERRCODE = 'invalid_name',
				  DETAIL = 'A consumer name is 1 to 63 letters, digits, "_", "." or "-".';
	END IF;
	PERFORM eventstream._check_read(stream, sid);
	-- (a consumer of another owner is invisible here: see the INSERT)
	IF EXISTS (SELECT 1 FROM eventstream.consumer_catalog k WHERE k.name = create_consumer.name) THEN
		RAISE EXCEPTION 'consumer "%" already exists', name USING ERRCODE = 'duplicate_object';
	END IF;
	IF start_at = 'earliest' THEN
		SELECT coalesce(min(l.id) - 1, 0) INTO pos FROM eventstream.event_log l WHERE l.stream_id = sid;
	ELSIF start_at = 'latest' THEN
		SELECT coalesce(max(l.id), 0) INTO pos FROM eventstream.event_log l WHERE l.stream_id = sid;
	ELSE
		RAISE EXCEPTION 'invalid start_at "%"', coalesce(start_at, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'start_at is ''earliest'' or ''latest''.';
	END IF;
	IF partitions IS NULL OR partitions < 1 OR partitions > 1024 THEN
		RAISE EXCEPTION 'partitions must be between 1 and 1024, not %', coalesce(partitions::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	BEGIN
		INSERT INTO eventstream.consumer_catalog (name, stream_id, owner, committed, delivered, partitions)
			VALUES (name, sid, (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user), pos, pos,
					partitions);
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'consumer "%" already exists', name USING ERRCODE = 'duplicate_object';
	END;
	IF partitions > 1 THEN
		INSERT INTO eventstream.consumer_partitions (consumer_id, partition, committed, delivered)
		SELECT k.id, g, pos, pos
		  FROM eventstream.consumer_catalog k, generate_series(0, create_consumer.partitions - 1) g
		 WHERE k.name = create_consumer.name;
	END IF;
END
$$;
COMMENT ON FUNCTION eventstream.create_consumer(text, text, text, integer) IS
  'create a consumer of a stream, starting at its earliest retained or its latest event';

CREATE FUNCTION eventstream.drop_consumer(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog := eventstream._consumer(name, true);
BEGIN
	DELETE FROM eventstream.consumer_catalog k WHERE k.id = c.id;
END
$$;

-- (positions, commit, seek and the consumers view are in positions.sql;
-- poll() and the leases in poll.sql)
-- src/consumer/positions.sql: where consumers are -- their positions,
-- commit, seek and the consumers view
-- (concatenated into the install script by the Makefile, and into the
-- update from 0.2.0, which replaces these: hence OR REPLACE)
--
-- A partitioned consumer's positions are kept per partition, and per
-- member: a member's row holds how far all the partitions it holds are
-- delivered and committed, so that a poll or a commit writes one row
-- whatever the number of partitions.  A partition's own row is brought up
-- to its member's whenever partitions change hands (_lease, poll.sql) or
-- a seek moves them, so the member's row only ever speaks for the
-- partitions it holds now.  _partition_positions is the one definition
-- of where each partition is.

-- Where each partition of a partitioned consumer is: its own row, or its
-- member's if that is further (as the reader: row-level security applies)
CREATE OR REPLACE VIEW eventstream._partition_positions WITH (security_invoker = true) AS
	SELECT p.consumer_id, p.partition,
		   greatest(p.committed, m.committed) AS committed,
		   greatest(p.delivered, m.delivered) AS delivered,
		   p.member, p.lease_until
	FROM eventstream.consumer_partitions p
	LEFT JOIN eventstream.consumer_members m
	  ON m.consumer_id = p.consumer_id AND m.member = p.member;
GRANT SELECT ON eventstream._partition_positions TO PUBLIC;

-- A member's partitions take its row's positions into their own, and the
-- row is cleared: before they change hands, or the member takes more
CREATE OR REPLACE FUNCTION eventstream._settle_member(consumer_id integer, member text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE eventstream.consumer_partitions p
	   SET committed = greatest(p.committed, m.committed), delivered = greatest(p.delivered, m.delivered)
	  FROM eventstream.consumer_members m
	 WHERE m.consumer_id = _settle_member.consumer_id AND m.member = _settle_member.member
	   AND (m.committed IS NOT NULL OR m.delivered IS NOT NULL)
	   AND p.consumer_id = m.consumer_id AND p.member = m.member;
	UPDATE eventstream.consumer_members m SET committed = NULL, delivered = NULL
	 WHERE m.consumer_id = _settle_member.consumer_id AND m.member = _settle_member.member
	   AND (m.committed IS NOT NULL OR m.delivered IS NOT NULL);
$$;

-- The positions a poll reads from, indexed by partition + 1: an
-- unpartitioned consumer is one partition, 0, at its committed position;
-- a partitioned one has a position for each partition the member leases
-- (taking and renewing leases first) and NULL for the others.
CREATE OR REPLACE FUNCTION eventstream._positions(c eventstream.consumer_catalog, member text, lease interval)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF c.partitions = 1 THEN
		RETURN ARRAY[(SELECT k.committed FROM eventstream.consumer_catalog k WHERE k.id = c.id)];
	END IF;
	PERFORM eventstream._lease(c, member, lease);
	RETURN ARRAY(SELECT CASE WHEN p.member = _positions.member THEN p.committed END
				   FROM eventstream._partition_positions p
				  WHERE p.consumer_id = c.id ORDER BY p.partition);
END
$$;

-- Everything up to id is done: atomic with the caller's transaction.  For
-- a partitioned consumer, in the partitions the member holds.
CREATE OR REPLACE FUNCTION eventstream.commit(consumer text, id bigint, member text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog := eventstream._consumer(consumer, true);
	delivered bigint;
	member_delivered bigint;
BEGIN
	IF id IS NULL OR id < 0 THEN
		RAISE EXCEPTION 'id must be a non-negative event id, not %', coalesce(id::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF c.partitions = 1 AND member IS NOT NULL THEN
		RAISE EXCEPTION 'consumer "%" has no partitions: commit without a member', consumer
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF c.partitions > 1 THEN
		IF member IS NULL THEN
			RAISE EXCEPTION 'consumer "%" has % partitions: commit as the member that polled', consumer, c.partitions
				USING ERRCODE = 'null_value_not_allowed';
		END IF;
		-- all its partitions were delivered up to the member's row's
		-- delivered, if set (poll); else each up to its own
		SELECT m.delivered INTO member_delivered FROM eventstream.consumer_members m
		 WHERE m.consumer_id = c.id AND m.member = commit.member;
		SELECT max(p.delivered) INTO delivered FROM eventstream.consumer_partitions p
		 WHERE p.consumer_id = c.id AND p.member = commit.member;
		delivered := greatest(delivered, member_delivered);
		IF delivered IS NULL OR id > delivered THEN
			RAISE EXCEPTION 'cannot commit consumer "%" past event %, the last one delivered to member "%"',
				consumer, coalesce(delivered, 0), member
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Commit the id of an event poll() returned to this member.';
		END IF;
		IF id <= member_delivered THEN
			UPDATE eventstream.consumer_members m SET committed = greatest(m.committed, commit.id)
			 WHERE m.consumer_id = c.id AND m.member = commit.member;
		ELSE
			UPDATE eventstream.consumer_partitions p SET committed = greatest(p.committed, least(commit.id, p.delivered))
			 WHERE p.consumer_id = c.id AND p.member = commit.member;
		END IF;
		UPDATE eventstream.consumer_catalog k SET updated_at = now() WHERE k.id = c.id;
		RETURN id;
	END IF;
	IF id > c.delivered THEN
		RAISE EXCEPTION 'cannot commit consumer "%" past event %, the last one delivered', consumer, c.delivered
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Commit the id of an event poll() returned.';
	END IF;
	UPDATE eventstream.consumer_catalog k SET committed = commit.id, updated_at = now()
	 WHERE k.id = c.id;
	RETURN id;
END
$$;

-- Move the position: the next poll returns the events after id.
CREATE OR REPLACE FUNCTION eventstream.seek(consumer text, id bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog := eventstream._consumer(consumer, true);
	last bigint;
BEGIN
	IF id IS NULL OR id < 0 THEN
		RAISE EXCEPTION 'id must be a non-negative event id, not %', coalesce(id::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT coalesce(max(l.id), 0) INTO last FROM eventstream.event_log l WHERE l.stream_id = c.stream_id;
	IF id > last THEN
		RAISE EXCEPTION 'cannot seek consumer "%" past event %, the last one of its stream', consumer, last
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The next poll returns the events after the id you seek to.';
	END IF;
	UPDATE eventstream.consumer_catalog k
	   SET committed = seek.id, delivered = seek.id, updated_at = now()
	 WHERE k.id = c.id;
	UPDATE eventstream.consumer_partitions p SET committed = seek.id, delivered = seek.id
	 WHERE p.consumer_id = c.id;
	UPDATE eventstream.consumer_members m SET committed = NULL, delivered = NULL
	 WHERE m.consumer_id = c.id AND (m.committed IS NOT NULL OR m.delivered IS NOT NULL);
	RETURN id;
END
$$;

-- Move the position to the first event that committed at or after a time.
CREATE OR REPLACE FUNCTION eventstream.seek(consumer text, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog := eventstream._consumer(consumer, false);
	pos bigint;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT coalesce(min(l.id) - 1, (SELECT coalesce(max(m.id), 0) FROM eventstream.event_log m
									WHERE m.stream_id = c.stream_id))
	  INTO pos
	  FROM eventstream.event_log l
	 WHERE l.stream_id = c.stream_id AND l.commit_time >= at;
	RETURN eventstream.seek(consumer, pos);
END
$$;

-- As the reader (security_invoker): their own consumers, with lags
-- counted over the events they may see.
CREATE OR REPLACE VIEW eventstream.consumers WITH (security_invoker = true) AS
	SELECT k.name,
		   s.name AS stream,
		   k.owner::regrole AS owner,
		   k.partitions,
		   (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
					'partition', p.partition, 'position', p.committed, 'delivered', p.delivered,
					'member', p.member, 'lease_until', p.lease_until) ORDER BY p.partition)
			  FROM eventstream._partition_positions p WHERE p.consumer_id = k.id) AS partition_positions,
		   (SELECT pg_catalog.jsonb_object_agg(m.member, m.lease_until)
			  FROM eventstream.consumer_members m
			 WHERE m.consumer_id = k.id AND m.lease_until > pg_catalog.clock_timestamp()) AS members,
		   x.pos AS position,
		   k.delivered,
		   CASE WHEN k.partitions > 1
				-- each partition's own events after its own position
				THEN (SELECT count(*) FROM eventstream.event_log l
						JOIN eventstream._partition_positions p
						  ON p.consumer_id = k.id
						 AND p.partition = eventstream.partition_of(l.key, l.id, k.partitions)
					   WHERE l.stream_id = k.stream_id AND l.id > x.pos AND l.id > p.committed)
				ELSE greatest(coalesce((SELECT max(l.id) FROM eventstream.event_log l
										WHERE l.stream_id = k.stream_id), 0) - x.pos, 0)
		   END AS lag_events,
		   coalesce(extract(epoch FROM pg_catalog.now() -
					(SELECT l.commit_time FROM eventstream.event_log l
					 WHERE l.stream_id = k.stream_id AND l.id > x.pos
					 ORDER BY l.id LIMIT 1))::double precision, 0) AS lag_seconds,
		   k.updated_at
	FROM eventstream.consumer_catalog k
	JOIN eventstream.stream_catalog s ON s.id = k.stream_id
	CROSS JOIN LATERAL (
		SELECT CASE WHEN k.partitions > 1
					THEN (SELECT min(p.committed) FROM eventstream._partition_positions p
						  WHERE p.consumer_id = k.id)
					ELSE k.committed END AS pos) x;
GRANT SELECT ON eventstream.consumers TO PUBLIC;
-- src/consumer/poll.sql: poll(), the wait behind it, and the leases of
-- partitioned consumers' members
-- (concatenated into the install script by the Makefile, and into the
-- updates that replace an earlier poll: hence OR REPLACE)

-- A stream's wake counter and a wait on it (src/stream/wake.c): the
-- worker bumps the counter of each stream that got events, after the
-- commit, and wakes its readers only.
CREATE OR REPLACE FUNCTION eventstream._stream_wake_seq(stream_id integer)
RETURNS bigint
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'eventstream_stream_wake_seq';

CREATE OR REPLACE FUNCTION eventstream._wait_for_stream(stream_id integer, seq bigint, deadline timestamptz)
RETURNS boolean
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'eventstream_wait_for_stream';

-- Take, renew and give back a member's partition leases.  Each member
-- aims at its fair share
-- (partitions / live members, rounded up); free and expired partitions
-- are claimed with SKIP LOCKED, so racing members get disjoint ones, and
-- a claimed partition resumes at its committed position.
CREATE OR REPLACE FUNCTION eventstream._lease(c eventstream.consumer_catalog, member text, lease interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	members integer;
	share integer;
	held integer;
	taking integer[];
	renewed bigint;
BEGIN
	IF member IS NULL THEN
		RAISE EXCEPTION 'consumer "%" has % partitions: poll it with a member name', c.name, c.partitions
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass member => ''some-name'', unique per process that polls.';
	END IF;
	IF lease IS NULL OR lease <= interval '0' OR lease > interval '1 day' THEN
		RAISE EXCEPTION 'lease must be a positive interval of at most a day, not %', coalesce(lease::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A member that stops polling holds its partitions until its lease runs out.';
	END IF;
	IF NOT pg_has_role(c.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of consumer "%" to poll it as a member', c.name
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	-- this member is alive; renew what it holds once a quarter of the
	-- lease has passed (not on every poll: that would write every
	-- partition's row each time), so that a member polling, or waiting
	-- in poll, at least every lease / 2 keeps at least a quarter in hand;
	-- a shorter lease than the one held applies at once
	-- (the member's partitions are renewed with its row: taken later,
	-- they never end before it)
	INSERT INTO eventstream.consumer_members AS m (consumer_id, member, lease_until)
		VALUES (c.id, _lease.member, clock_timestamp() + lease)
		ON CONFLICT ON CONSTRAINT consumer_members_pkey DO UPDATE SET lease_until = excluded.lease_until
		WHERE m.lease_until NOT BETWEEN clock_timestamp() + lease * 0.75 AND excluded.lease_until;
	GET DIAGNOSTICS renewed = ROW_COUNT;
	IF renewed > 0 THEN
		UPDATE eventstream.consumer_partitions p SET lease_until = clock_timestamp() + lease
		 WHERE p.consumer_id = c.id AND p.member = _lease.member;
	END IF;
	SELECT count(*) INTO members FROM eventstream.consumer_members m
	 WHERE m.consumer_id = c.id AND m.lease_until > clock_timestamp();
	share := ceil(c.partitions::numeric / greatest(members, 1));
	SELECT count(*) INTO held FROM eventstream.consumer_partitions p
	 WHERE p.consumer_id = c.id AND p.member = _lease.member;
	-- (partitions change hands with their positions settled: the member's
	-- row speaks only for what it holds, positions.sql)
	IF held > share THEN
		-- others joined: give back the surplus
		PERFORM eventstream._settle_member(c.id, _lease.member);
		UPDATE eventstream.consumer_partitions p SET member = NULL, lease_until = NULL,
			   delivered = p.committed
		 WHERE p.consumer_id = c.id AND p.partition IN (
			SELECT q.partition FROM eventstream.consumer_partitions q
			 WHERE q.consumer_id = c.id AND q.member = _lease.member
			 ORDER BY q.partition DESC LIMIT held - share);
	ELSIF held < share THEN
		taking := ARRAY(SELECT q.partition FROM eventstream.consumer_partitions q
						 WHERE q.consumer_id = c.id
						   AND (q.member IS NULL OR q.lease_until <= clock_timestamp())
						 ORDER BY q.partition LIMIT share - held
						 FOR UPDATE SKIP LOCKED);
		IF cardinality(taking) > 0 THEN
			-- a partition whose lease ran out resumes where its last
			-- member's row had committed it
			PERFORM eventstream._settle_member(c.id, _lease.member);
			UPDATE eventstream.consumer_partitions p
			   SET member = _lease.member, lease_until = clock_timestamp() + lease,
				   committed = greatest(p.committed, o.committed),
				   delivered = greatest(p.committed, o.committed)
			  FROM (SELECT q.partition, m.committed
					  FROM eventstream.consumer_partitions q
					  LEFT JOIN eventstream.consumer_members m
						ON m.consumer_id = q.consumer_id AND m.member = q.member
					 WHERE q.consumer_id = c.id AND q.partition = ANY (taking)) o
			 WHERE p.consumer_id = c.id AND p.partition = o.partition;
		END IF;
	END IF;
END
$$;

-- The last of the next max_events events after low: ids are dense per
-- stream, so they are the ids up to low + max_events -- a range, which no
-- plan can turn into reading the backlog (a new segment's estimates made
-- ORDER BY id LIMIT sort it all).  Where the range is empty, the log may
-- go on after a hole (retention dropped the ids after low): from its next
-- id then.
CREATE OR REPLACE FUNCTION eventstream._next_last(stream_id integer, low bigint, max_events integer)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	last bigint;
	first bigint;
BEGIN
	SELECT max(l.id) INTO last FROM eventstream.event_log l
	 WHERE l.stream_id = _next_last.stream_id AND l.id > low AND l.id <= low + max_events;
	IF last IS NULL THEN
		SELECT min(l.id) INTO first FROM eventstream.event_log l
		 WHERE l.stream_id = _next_last.stream_id AND l.id > low;
		IF first IS NOT NULL THEN
			SELECT max(l.id) INTO last FROM eventstream.event_log l
			 WHERE l.stream_id = _next_last.stream_id AND l.id >= first AND l.id < first + max_events;
		END IF;
	END IF;
	RETURN last;
END
$$;

-- The last of the next max_events events in the partitions a member
-- holds (pos, as _positions gives it), reading the log from low in id
-- ranges of at most a chunk (dense ids: see _next_last), and at most
-- scan_limit rows: when none of them was the member's, its partitions had
-- no events up to the last one read, and they move there (moved), so that
-- the next look starts after it.  The cost of a poll follows what it
-- returns and the member's share of the partitions, not the backlog.
CREATE OR REPLACE FUNCTION eventstream._scan_partitions(c eventstream.consumer_catalog, member text,
	pos bigint[], low bigint, max_events integer, scan_limit integer DEFAULT 10000,
	OUT last bigint, OUT moved boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	got integer := 0;
	scanned integer := 0;
	seen bigint;
	hi bigint := low;
	chunk integer := greatest(max_events, 100);
	n integer;
BEGIN
	LOOP
		n := 0;
		FOR r IN SELECT l.id, eventstream.partition_of(l.key, l.id, c.partitions) AS part
				   FROM eventstream.event_log l
				  WHERE l.stream_id = c.stream_id AND l.id > hi AND l.id <= hi + chunk
				  ORDER BY l.id
		LOOP
			n := n + 1;
			seen := r.id;
			scanned := scanned + 1;
			IF r.id > pos[r.part + 1] THEN
				last := r.id;
				got := got + 1;
				EXIT WHEN got >= max_events;
			END IF;
			EXIT WHEN scanned >= scan_limit;
		END LOOP;
		EXIT WHEN got >= max_events OR scanned >= scan_limit;
		IF n = 0 THEN
			-- the end, or a hole: from the next id there is
			SELECT min(l.id) - 1 INTO hi FROM eventstream.event_log l
			 WHERE l.stream_id = c.stream_id AND l.id > hi;
			EXIT WHEN hi IS NULL;
		ELSE
			hi := hi + chunk;
		END IF;
	END LOOP;
	moved := last IS NULL AND seen IS NOT NULL;
	IF moved THEN
		UPDATE eventstream.consumer_members m
		   SET committed = greatest(m.committed, seen), delivered = greatest(m.delivered, seen)
		 WHERE m.consumer_id = c.id AND m.member = _scan_partitions.member;
	END IF;
END
$$;

-- Events after the committed position; the same again until committed.
-- With wait, blocks until events arrive or the time is up, woken by the
-- worker when this stream gets events (not another's).  A partitioned
-- consumer is polled by members, each getting the events of the
-- partitions it leases; an unpartitioned one is partition 0 of one.  (Poll in a READ COMMITTED transaction: each look takes a new
-- snapshot.)
CREATE OR REPLACE FUNCTION eventstream.poll(consumer text, max_events integer DEFAULT 100,
	wait interval DEFAULT '0', member text DEFAULT NULL, lease interval DEFAULT '30 s')
RETURNS SETOF eventstream.event
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog := eventstream._consumer(consumer, false);
	stream text;
	deadline timestamptz;
	seq bigint;
	pos bigint[];
	low bigint;
	high bigint;
	held integer;
	whole boolean;
	last bigint;
	moved boolean := false;
BEGIN
	IF max_events IS NULL OR max_events < 1 THEN
		RAISE EXCEPTION 'max_events must be at least 1, not %', coalesce(max_events::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF wait IS NULL OR wait < interval '0' THEN
		RAISE EXCEPTION 'wait must be a non-negative interval'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_is_in_recovery() THEN
		RAISE EXCEPTION 'poll() cannot run on a standby'
			USING ERRCODE = 'read_only_sql_transaction',
				  DETAIL = 'poll records what it delivered, and a standby is read-only.',
				  HINT = 'Poll the primary; on a standby, read the log with eventstream.read().';
	END IF;
	SELECT s.name INTO stream FROM eventstream.stream_catalog s WHERE s.id = c.stream_id;
	PERFORM eventstream._check_read(stream, c.stream_id);
	IF c.partitions = 1 AND member IS NOT NULL THEN
		RAISE EXCEPTION 'consumer "%" has no partitions: poll it without a member', c.name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Members share the partitions of a consumer created with partitions => N.';
	END IF;
	deadline := clock_timestamp() + wait;

	LOOP
		seq := eventstream._stream_wake_seq(c.stream_id);
		pos := eventstream._positions(c, member, lease);
		SELECT min(x), max(x), count(x) INTO low, high, held FROM unnest(pos) x;
		-- the last of the next max_events events: where every partition is
		-- this member's and at one position (always so unpartitioned), the
		-- next ids after it, else the ones of its partitions
		whole := held = c.partitions AND low = high;
		IF whole THEN
			last := eventstream._next_last(c.stream_id, low, max_events);
		ELSE
			SELECT s.last, s.moved INTO last, moved
			  FROM eventstream._scan_partitions(c, member, pos, low, max_events) s;
		END IF;
		EXIT WHEN last IS NOT NULL OR clock_timestamp() >= deadline;
		CONTINUE WHEN moved;	-- there may be more of the log to read
		-- a member wakes in time to renew its leases
		PERFORM eventstream._wait_for_stream(c.stream_id, seq,
			CASE WHEN c.partitions > 1 THEN least(deadline, clock_timestamp() + lease / 2)
				 ELSE deadline END);
	END LOOP;
	IF last IS NULL THEN
		RETURN;
	END IF;

	-- what was delivered: commit may not go past it.  Every partition
	-- the member holds got all of its events up to last, those that had
	-- none included, so all of them may be committed that far (otherwise
	-- a quiet partition would hold the next poll's scan back where its
	-- own last event was): the member's row says so for all of them.
	IF c.partitions > 1 THEN
		UPDATE eventstream.consumer_members m SET delivered = last
		 WHERE m.consumer_id = c.id AND m.member = poll.member
		   AND (m.delivered IS NULL OR m.delivered < last);
	ELSIF pg_has_role(c.owner, 'USAGE') THEN
		UPDATE eventstream.consumer_catalog k SET delivered = greatest(k.delivered, last)
		 WHERE k.id = c.id AND k.delivered < last;
	END IF;
	RETURN QUERY
		SELECT e.* FROM eventstream._events(stream, c.stream_id, low) e
		 WHERE e.id <= last
		   AND (whole OR e.id > pos[eventstream.partition_of(e.key, e.id, c.partitions) + 1])
		 ORDER BY e.id;
END
$$;
COMMENT ON FUNCTION eventstream.poll(text, integer, interval, text, interval) IS
  'events after the consumer''s committed position (again until committed)';
-- src/sink/sink.sql: sinks, which push a stream's events out (webhooks, Kafka)
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Sinks: push delivery by the sink worker (src/sink)
-- ---------------------------------------------------------------------

-- One row per sink.  Its options hold the secret, so only the sink's
-- owners read the row; eventstream.sinks shows the rest to them.
CREATE TABLE eventstream.sink_catalog (
	id serial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	stream_id integer NOT NULL REFERENCES eventstream.stream_catalog (id) ON DELETE CASCADE,
	kind text NOT NULL CHECK (kind IN ('webhook', 'kafka')),
	options jsonb NOT NULL,
	owner regrole NOT NULL,
	state text NOT NULL DEFAULT 'running'
		CHECK (state IN ('running', 'paused', 'retrying', 'disabled')),
	last_error text,
	last_success timestamptz,
	latency_p50 interval,			-- commit to acknowledgment, of the last
	latency_p99 interval,			-- 1000 deliveries (the worker's, this run)
	created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON eventstream.sink_catalog FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_catalog_id_seq', '');

-- A sink delivers in partitions (its "concurrency"): the events of one key
-- go to one partition, in id order, one request in flight at a time.  The
-- position is the last event the receiver acknowledged (2xx) or that went
-- to dead letters.
CREATE TABLE eventstream.sink_partitions (
	sink_id integer NOT NULL REFERENCES eventstream.sink_catalog (id) ON DELETE CASCADE,
	partition integer NOT NULL,
	position bigint NOT NULL,
	batch_last bigint,				-- the batch being sent: resent as is after a crash
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz,
	failing_since timestamptz,		-- the batch's first failure (max_age)
	last_status integer,
	last_error text,
	delivered bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0,
	dead_lettered bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (sink_id, partition)
);
REVOKE ALL ON eventstream.sink_partitions FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_partitions', '');

-- Events a sink gave up on, to look at and replay
CREATE TABLE eventstream.dead_letter_catalog (
	id bigserial PRIMARY KEY,
	sink_id integer NOT NULL REFERENCES eventstream.sink_catalog (id) ON DELETE CASCADE,
	event_ids bigint[] NOT NULL,
	attempts integer NOT NULL,
	last_status integer,
	last_error text,
	response text,
	failed_at timestamptz NOT NULL DEFAULT now(),
	replay boolean NOT NULL DEFAULT false
);
REVOKE ALL ON eventstream.dead_letter_catalog FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.dead_letter_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.dead_letter_catalog_id_seq', '');

CREATE FUNCTION eventstream.create_sink(name text, stream text, kind text, options jsonb)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_create_sink';
REVOKE ALL ON FUNCTION eventstream.create_sink(text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION eventstream.create_sink(text, text, text, jsonb) IS
  'create a sink that pushes a stream''s events to a receiver';

CREATE FUNCTION eventstream.alter_sink(name text, options jsonb)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_alter_sink';

CREATE FUNCTION eventstream.pause_sink(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_pause_sink';

CREATE FUNCTION eventstream.resume_sink(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_resume_sink';

CREATE FUNCTION eventstream.drop_sink(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_drop_sink';

CREATE FUNCTION eventstream.replay_dead_letters(sink text, ids bigint[] DEFAULT NULL)
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_replay_dead_letters';

-- the webhook-signature header of a request: for checking a receiver
CREATE FUNCTION eventstream.webhook_signature(secret text, msg_id text, ts bigint, body text)
RETURNS text
LANGUAGE C STRICT IMMUTABLE
AS 'MODULE_PATHNAME', 'eventstream_webhook_signature';

-- Sinks, to their owners, with the secret masked
CREATE VIEW eventstream.sinks AS
	SELECT s.name,
		   c.name AS stream,
		   s.kind,
		   s.state,
		   s.owner::regrole AS owner,
		   (s.options - 'secret' - 'previous_secret') ||
		   pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
			 'secret', CASE WHEN s.options ? 'secret' THEN '********' END,
			 'previous_secret', CASE WHEN s.options ? 'previous_secret' THEN '********' END))
			 AS options,
		   p.position,
		   greatest(coalesce((SELECT max(l.id) FROM eventstream.event_log l
							  WHERE l.stream_id = s.stream_id), 0) - p.position, 0) AS backlog,
		   p.delivered,
		   p.failed,
		   p.retrying,
		   p.dead_lettered,
		   p.in_flight,
		   extract(epoch FROM pg_catalog.now() -
				   (SELECT l.commit_time FROM eventstream.event_log l
					 WHERE l.stream_id = s.stream_id AND l.id > p.position
					 ORDER BY l.id LIMIT 1))::double precision AS oldest_undelivered_age,
		   s.last_success,
		   coalesce(s.last_error, p.last_error) AS last_error,
		   s.latency_p50,
		   s.latency_p99
	  FROM eventstream.sink_catalog s
	  JOIN eventstream.stream_catalog c ON c.id = s.stream_id
	  CROSS JOIN LATERAL (
		SELECT min(q.position) AS position, sum(q.delivered) AS delivered,
			   sum(q.failed) AS failed, count(*) FILTER (WHERE q.attempts > 0) AS retrying,
			   sum(q.dead_lettered) AS dead_lettered,
			   count(*) FILTER (WHERE q.batch_last IS NOT NULL) AS in_flight,
			   (array_agg(q.last_error ORDER BY q.attempts DESC)
				  FILTER (WHERE q.last_error IS NOT NULL))[1] AS last_error
		  FROM eventstream.sink_partitions q WHERE q.sink_id = s.id) p
	 WHERE pg_catalog.pg_has_role(s.owner, 'USAGE');
GRANT SELECT ON eventstream.sinks TO PUBLIC;

CREATE VIEW eventstream.dead_letters AS
	SELECT s.name AS sink, d.id, d.event_ids, d.attempts, d.last_status, d.last_error,
		   d.response, d.failed_at, d.replay
	  FROM eventstream.dead_letter_catalog d
	  JOIN eventstream.sink_catalog s ON s.id = d.sink_id
	 WHERE pg_catalog.pg_has_role(s.owner, 'USAGE');
GRANT SELECT ON eventstream.dead_letters TO PUBLIC;
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
-- src/aggregate/distinct.sql: the value counts behind count(DISTINCT x),
-- and the refusal of deletes by hll sketches
-- (concatenated into the install script by the Makefile, and into the
-- update from 0.1.0, which adds it: hence OR REPLACE)
--
-- A continuous count(DISTINCT x) keeps, per group, how many rows hold each
-- value, as a jsonb object {"value as text": rows}; the count is the
-- number of values with rows.  A batch brings its rows as [value, +1 or
-- -1] pairs (statements.c), added here; a value whose rows reach zero
-- goes.  (Plain SQL, inlined into the maintenance statements; its cost per
-- group follows the group's distinct values.)

-- counts plus deltas: deltas are an object like counts, or an array of
-- [value, n] pairs
CREATE OR REPLACE FUNCTION eventstream._distinct_add(counts jsonb, deltas jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT coalesce(pg_catalog.jsonb_object_agg(u.v, u.n), '{}')
	  FROM (SELECT v, pg_catalog.sum(n) AS n
			  FROM (SELECT e.key AS v, e.value::bigint AS n FROM pg_catalog.jsonb_each(counts) e
					UNION ALL
					SELECT e.key, e.value::bigint
					  FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(deltas) = 'object'
													  THEN deltas ELSE '{}' END) e
					UNION ALL
					SELECT p.value ->> 0, (p.value ->> 1)::bigint
					  FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(deltas) = 'array'
																THEN deltas ELSE '[]' END) p) a
			 GROUP BY v
			HAVING pg_catalog.sum(n) <> 0) u
$$;

-- the distinct values that have rows
CREATE OR REPLACE FUNCTION eventstream._distinct_count(counts jsonb)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_each(counts) e WHERE e.value::bigint > 0
$$;

-- hll_add_agg and hll_union_agg keep a sketch, which cannot take a row
-- out: a batch that deletes rows (or moves them to another group) fails
-- the aggregate, saying so, until refresh_aggregate computes it again
CREATE OR REPLACE FUNCTION eventstream._cannot_remove(aggregate text, removed bigint)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF removed > 0 THEN
		RAISE EXCEPTION 'a continuous %() cannot take out rows that were deleted or updated', aggregate
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'An hll sketch can add values, not remove them.',
				  HINT = 'Use it on tables that are only inserted into; eventstream.refresh_aggregate() computes it again.';
	END IF;
	RETURN true;
END
$$;

-- the value counts of several rows as one (windows: src/aggregate/window.c)
CREATE OR REPLACE AGGREGATE eventstream._distinct_union(jsonb) (
	SFUNC = eventstream._distinct_add,
	STYPE = jsonb,
	INITCOND = '{}'
);
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
-- src/api/restore.sql: what pg_dump keeps, and starting it after a restore
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Dump and restore (src/api/restore_api.c)
-- ---------------------------------------------------------------------

-- pg_dump keeps the definitions -- streams, consumers and their
-- positions, aggregates, sinks, dead letters: configuration tables of the
-- extension, their sequences too -- and the event log, whose segments are
-- tables of their own; an aggregate's view and table are dumped as the
-- objects they are.  Catalog columns that name a table or a role are
-- regclass and regrole, so they are dumped by name and restored to the
-- new database's objects.
--
-- A definition restored from a dump waits: a stream or an aggregate comes
-- back inactive (the worker must not take the restore's own loading of
-- the tables as changes), a sink paused (a copy of a database must not
-- start pushing to the original's receivers).  eventstream.finish_restore()
-- then starts the streams and aggregates.

CREATE FUNCTION eventstream._writing_as_api()
RETURNS boolean
LANGUAGE C STRICT STABLE
AS 'MODULE_PATHNAME', 'eventstream_writing_as_api';

-- a definition written other than by the SQL functions came from a dump
CREATE FUNCTION eventstream._restored_definition()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF eventstream._writing_as_api() THEN
		RETURN NEW;
	END IF;
	IF TG_TABLE_NAME = 'sink_catalog' THEN
		NEW.state := 'paused';
		NEW.last_error := 'restored from a dump: resume_sink() delivers from its position';
	ELSE
		NEW.active := false;
		NEW.restored := true;
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION eventstream._restored_definition() FROM PUBLIC;
CREATE TRIGGER restored_definition BEFORE INSERT ON eventstream.stream_catalog
	FOR EACH ROW EXECUTE FUNCTION eventstream._restored_definition();
CREATE TRIGGER restored_definition BEFORE INSERT ON eventstream.aggregate_catalog
	FOR EACH ROW EXECUTE FUNCTION eventstream._restored_definition();
CREATE TRIGGER restored_definition BEFORE INSERT ON eventstream.sink_catalog
	FOR EACH ROW EXECUTE FUNCTION eventstream._restored_definition();

-- Start what a restore brought back, in one transaction:
--	- each restored stream gets a "gap" event after its restored events
--	  (changes committed between the dump's last captured batch and now are
--	  not in the log; backfill(stream) closes it) and takes the changes
--	  committed from now on;
--	- each restored aggregate is computed again from its table
--	  (refresh_aggregate) and maintained from now on;
--	- restored sinks stay paused: resume_sink() is the owner's decision.
-- Returns a row per definition and what was done.
CREATE FUNCTION eventstream.finish_restore()
RETURNS TABLE (kind text, name text, action text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	gap_id bigint;
BEGIN
	FOR r IN SELECT c.id, c.name FROM eventstream.stream_catalog c WHERE c.restored ORDER BY c.id
	LOOP
		gap_id := eventstream._append_gap(r.id, jsonb_build_object('reason', 'restore',
			'detail', 'changes committed after the dump''s last captured batch and before this restore '
					  'are not in the stream'));
		UPDATE eventstream.stream_catalog c
		   SET restored = false, active = false, created_lsn = pg_current_wal_insert_lsn()
		 WHERE c.id = r.id;
		kind := 'stream';
		name := r.name;
		action := format('gap event %s; capturing from now', gap_id);
		RETURN NEXT;
	END LOOP;
	FOR r IN SELECT a.id, a.view_relid FROM eventstream.aggregate_catalog a WHERE a.restored ORDER BY a.id
	LOOP
		PERFORM eventstream.refresh_aggregate(r.view_relid);
		UPDATE eventstream.aggregate_catalog a SET restored = false WHERE a.id = r.id;
		kind := 'aggregate';
		name := r.view_relid::text;
		action := 'computed again from its table; maintained from now';
		RETURN NEXT;
	END LOOP;
	FOR r IN SELECT s.name FROM eventstream.sink_catalog s
			  WHERE s.state = 'paused' AND s.last_error LIKE 'restored from a dump%' ORDER BY s.id
	LOOP
		kind := 'sink';
		name := r.name;
		action := 'paused: resume_sink() delivers from its position';
		RETURN NEXT;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION eventstream.finish_restore() FROM PUBLIC;
COMMENT ON FUNCTION eventstream.finish_restore() IS
  'after pg_restore: start the restored streams and aggregates (sinks stay paused)';
-- src/api/metrics.sql: numbers for monitoring, in one view
-- (concatenated into the install script by the Makefile, and into the
-- update from 0.2.0, which replaces the view: hence OR REPLACE)

-- ---------------------------------------------------------------------
-- Metrics: one row per (metric, object), for exporters
-- ---------------------------------------------------------------------

-- Like pg_stat_* views: counts, sizes and ages only -- never an event,
-- a key or an option -- of every stream, consumer, aggregate and sink,
-- whoever owns them; so it is not PUBLIC, and members of pg_monitor (or
-- roles granted SELECT) read it.  Metric names follow Prometheus'
-- conventions (unit suffixes); "stream" and "object" are the labels.
-- examples/monitoring/ has collector configurations built on it.
CREATE OR REPLACE VIEW eventstream.metrics AS
	-- the capture worker
	SELECT m.metric, NULL::text AS stream, NULL::text AS object, m.value
	  FROM eventstream.status w,
	  LATERAL (VALUES
		('eventstream_worker_up', (w.pid IS NOT NULL)::int::float8),
		('eventstream_worker_lag_bytes', w.lag_bytes::float8),
		('eventstream_worker_lag_seconds', w.lag_seconds),
		('eventstream_worker_events_per_second', w.events_per_sec::float8),
		('eventstream_worker_events_total', w.events_total::float8),
		('eventstream_slot_retained_wal_bytes', w.retained_wal_bytes::float8),
		('eventstream_capture_gaps_total',
		 (SELECT count(*) FROM eventstream.gap_catalog)::float8)) m(metric, value)
	UNION ALL
	-- streams: the log
	SELECT m.metric, c.name, c.name, m.value
	  FROM eventstream.stream_catalog c
	  CROSS JOIN LATERAL (SELECT max(l.id) AS last_id, min(l.id) AS first_id
						  FROM eventstream.event_log l WHERE l.stream_id = c.id) l
	  CROSS JOIN LATERAL (SELECT count(*) AS n, sum(pg_catalog.pg_total_relation_size(g.rel)) AS bytes
						  FROM eventstream._segments() g WHERE g.stream_id = c.id) g,
	  LATERAL (VALUES
		('eventstream_stream_last_id', coalesce(l.last_id, 0)::float8),
		('eventstream_stream_first_id', coalesce(l.first_id, 0)::float8),
		('eventstream_stream_segments', g.n::float8),
		('eventstream_stream_bytes', coalesce(g.bytes, 0)::float8),
		('eventstream_stream_active', c.active::int::float8)) m(metric, value)
	UNION ALL
	-- consumers: how far behind the stream's last event (partitioned ones:
	-- from their slowest partition)
	SELECT m.metric, s.name, k.name, m.value
	  FROM eventstream.consumer_catalog k
	  JOIN eventstream.stream_catalog s ON s.id = k.stream_id
	  CROSS JOIN LATERAL (
		SELECT CASE WHEN k.partitions > 1
					-- (as in _partition_positions, positions.sql, but read
					-- as the view's owner: a reader of the metrics sees
					-- every consumer, not only the ones row-level
					-- security shows it)
					THEN (SELECT min(greatest(p.committed, m.committed))
							FROM eventstream.consumer_partitions p
							LEFT JOIN eventstream.consumer_members m
							  ON m.consumer_id = p.consumer_id AND m.member = p.member
						   WHERE p.consumer_id = k.id)
					ELSE k.committed END AS pos) x
	  CROSS JOIN LATERAL (SELECT max(l.id) AS last_id
						  FROM eventstream.event_log l WHERE l.stream_id = k.stream_id) l,
	  LATERAL (VALUES
		('eventstream_consumer_position', x.pos::float8),
		('eventstream_consumer_lag_events', greatest(coalesce(l.last_id, 0) - x.pos, 0)::float8),
		('eventstream_consumer_lag_seconds',
		 coalesce(extract(epoch FROM pg_catalog.now() -
				  (SELECT l2.commit_time FROM eventstream.event_log l2
				   WHERE l2.stream_id = k.stream_id AND l2.id > x.pos
				   ORDER BY l2.id LIMIT 1))::float8, 0))) m(metric, value)
	UNION ALL
	-- aggregates: applied with the worker's batches, so their lag is its
	SELECT m.metric, NULL, a.view_relid::text, m.value
	  FROM eventstream.aggregate_catalog a
	  LEFT JOIN eventstream.status w ON true,
	  LATERAL (VALUES
		('eventstream_aggregate_lag_bytes', w.lag_bytes::float8),
		('eventstream_aggregate_stale', (a.state = 'stale')::int::float8),
		('eventstream_aggregate_failed', (a.state = 'failed')::int::float8),
		('eventstream_aggregate_active', a.active::int::float8)) m(metric, value)
	UNION ALL
	-- sinks
	SELECT m.metric, c.name, s.name, m.value
	  FROM eventstream.sink_catalog s
	  JOIN eventstream.stream_catalog c ON c.id = s.stream_id
	  CROSS JOIN LATERAL (
		SELECT min(q.position) AS position, sum(q.delivered) AS delivered, sum(q.failed) AS failed,
			   count(*) FILTER (WHERE q.attempts > 0) AS retrying, sum(q.dead_lettered) AS dead_lettered
		  FROM eventstream.sink_partitions q WHERE q.sink_id = s.id) p
	  CROSS JOIN LATERAL (SELECT max(l.id) AS last_id
						  FROM eventstream.event_log l WHERE l.stream_id = s.stream_id) l,
	  LATERAL (VALUES
		('eventstream_sink_backlog_events', greatest(coalesce(l.last_id, 0) - p.position, 0)::float8),
		('eventstream_sink_delivered_total', p.delivered::float8),
		('eventstream_sink_failed_total', p.failed::float8),
		('eventstream_sink_dead_lettered_total', p.dead_lettered::float8),
		('eventstream_sink_retrying_partitions', p.retrying::float8),
		('eventstream_sink_running', (s.state = 'running')::int::float8),
		('eventstream_sink_disabled', (s.state = 'disabled')::int::float8),
		('eventstream_sink_latency_p99_seconds', extract(epoch FROM s.latency_p99)::float8),
		('eventstream_sink_oldest_undelivered_age_seconds',
		 coalesce(extract(epoch FROM pg_catalog.now() -
				  (SELECT l2.commit_time FROM eventstream.event_log l2
				   WHERE l2.stream_id = s.stream_id AND l2.id > p.position
				   ORDER BY l2.id LIMIT 1))::float8, 0))) m(metric, value);
REVOKE ALL ON eventstream.metrics FROM PUBLIC;
GRANT SELECT ON eventstream.metrics TO pg_monitor;
COMMENT ON VIEW eventstream.metrics IS
  'counts, sizes and ages of the worker, streams, consumers, aggregates and sinks, for monitoring';
