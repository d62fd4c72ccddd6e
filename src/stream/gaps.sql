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
