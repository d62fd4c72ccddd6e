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
-- src/consumer/poll.sql: poll() and the wait behind it
-- (concatenated into the install script by the Makefile, and into the
-- update from 0.1.0, which replaces 0.1.0's poll: hence OR REPLACE)

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
	last bigint;
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
		SELECT min(x) INTO low FROM unnest(pos) x;
		-- the last of the next max_events events: ids only, so that the
		-- log's index answers it in id order however the plan is made
		IF c.partitions = 1 THEN
			SELECT max(l.id) INTO last FROM (
				SELECT l.id FROM eventstream.event_log l
				 WHERE l.stream_id = c.stream_id AND l.id > low
				 ORDER BY l.id LIMIT max_events) l;
		ELSE
			SELECT max(l.id) INTO last FROM (
				SELECT l.id FROM eventstream.event_log l
				 WHERE l.stream_id = c.stream_id AND l.id > low
				   AND l.id > pos[eventstream.partition_of(l.key, l.id, c.partitions) + 1]
				 ORDER BY l.id LIMIT max_events) l;
		END IF;
		EXIT WHEN last IS NOT NULL OR clock_timestamp() >= deadline;
		-- a member wakes in time to renew its leases
		PERFORM eventstream._wait_for_stream(c.stream_id, seq,
			CASE WHEN c.partitions > 1 THEN least(deadline, clock_timestamp() + lease / 2)
				 ELSE deadline END);
	END LOOP;
	IF last IS NULL THEN
		RETURN;
	END IF;

	-- what was delivered: commit may not go past it
	IF c.partitions > 1 THEN
		UPDATE eventstream.consumer_partitions p SET delivered = greatest(p.delivered, d.last_id)
		  FROM (SELECT eventstream.partition_of(e.key, e.id, c.partitions) AS part, max(e.id) AS last_id
				  FROM eventstream._events(stream, c.stream_id, low) e
				 WHERE e.id <= last GROUP BY 1) d
		 WHERE p.consumer_id = c.id AND p.partition = d.part AND pos[p.partition + 1] IS NOT NULL;
	ELSIF pg_has_role(c.owner, 'USAGE') THEN
		UPDATE eventstream.consumer_catalog k SET delivered = greatest(k.delivered, last)
		 WHERE k.id = c.id AND k.delivered < last;
	END IF;
	RETURN QUERY
		SELECT e.* FROM eventstream._events(stream, c.stream_id, low) e
		 WHERE e.id <= last
		   AND (c.partitions = 1
				OR e.id > pos[eventstream.partition_of(e.key, e.id, c.partitions) + 1])
		 ORDER BY e.id;
END
$$;
COMMENT ON FUNCTION eventstream.poll(text, integer, interval, text, interval) IS
  'events after the consumer''s committed position (again until committed)';
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
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Metrics: one row per (metric, object), for exporters
-- ---------------------------------------------------------------------

-- Like pg_stat_* views: counts, sizes and ages only -- never an event,
-- a key or an option -- of every stream, consumer, aggregate and sink,
-- whoever owns them; so it is not PUBLIC, and members of pg_monitor (or
-- roles granted SELECT) read it.  Metric names follow Prometheus'
-- conventions (unit suffixes); "stream" and "object" are the labels.
-- examples/monitoring/ has collector configurations built on it.
CREATE VIEW eventstream.metrics AS
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
					THEN (SELECT min(p.committed) FROM eventstream.consumer_partitions p
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
