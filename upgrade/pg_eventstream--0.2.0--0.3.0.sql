/* pg_eventstream--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_eventstream UPDATE TO '0.3.0'" to load this file. \quit

-- A member of a partitioned consumer keeps how far its partitions are
-- delivered and committed in its own row (src/consumer/positions.sql), and
-- the members are dumped with the consumers.
ALTER TABLE eventstream.consumer_members ADD COLUMN committed bigint, ADD COLUMN delivered bigint;
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_members', '');

-- What follows (the Makefile appends it) is the SQL files that are new or
-- changed in 0.3.0:
--   src/consumer/positions.sql positions, commit, seek and the consumers
--                              view, moved here from consumer.sql; OR REPLACE
--   src/consumer/poll.sql      a partitioned poll's scan (_scan_partitions),
--                              leases renewed once a quarter (_lease moved
--                              here from consumer.sql); OR REPLACE
--   src/aggregate/distinct.sql count(DISTINCT x) and the hll sketches
--   src/aggregate/window.sql   sliding windows (new objects)
--   src/api/metrics.sql        the metrics view, reading the positions of
--                              partitions as positions.sql defines; OR REPLACE
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

-- Take, renew and give back a member's partition leases; returns the
-- partitions the member holds.  Each member aims at its fair share
-- (partitions / live members, rounded up); free and expired partitions
-- are claimed with SKIP LOCKED, so racing members get disjoint ones, and
-- a claimed partition resumes at its committed position.
CREATE OR REPLACE FUNCTION eventstream._lease(c eventstream.consumer_catalog, member text, lease interval)
RETURNS integer[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	members integer;
	share integer;
	held integer;
	taking integer[];
	parts integer[];
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
	parts := ARRAY(SELECT p.partition FROM eventstream.consumer_partitions p
					WHERE p.consumer_id = c.id AND p.member = _lease.member ORDER BY 1);
	held := cardinality(parts);
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
	IF held <> share THEN		-- (what it holds may have changed)
		parts := ARRAY(SELECT p.partition FROM eventstream.consumer_partitions p
						WHERE p.consumer_id = c.id AND p.member = _lease.member ORDER BY 1);
	END IF;
	RETURN parts;
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
		SELECT min(x) INTO low FROM unnest(pos) x;
		-- the last of the next max_events events
		IF c.partitions = 1 THEN
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
		   AND (c.partitions = 1
				OR e.id > pos[eventstream.partition_of(e.key, e.id, c.partitions) + 1])
		 ORDER BY e.id;
END
$$;
COMMENT ON FUNCTION eventstream.poll(text, integer, interval, text, interval) IS
  'events after the consumer''s committed position (again until committed)';
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
