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
