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
