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

-- The positions of the partitions a member holds, indexed by partition +
-- 1, NULL for the others (leases taken first: _lease)
CREATE OR REPLACE FUNCTION eventstream._held_positions(c eventstream.consumer_catalog, member text)
RETURNS bigint[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY(SELECT CASE WHEN p.member = _held_positions.member THEN p.committed END
				   FROM eventstream._partition_positions p
				  WHERE p.consumer_id = c.id ORDER BY p.partition)
$$;

-- How many partitions a member holds, and the least and greatest of their
-- positions, taking and renewing leases first: one pass over the
-- partitions, no array (a poll needs the array only when the positions
-- differ).  An unpartitioned consumer holds its one partition.
CREATE OR REPLACE FUNCTION eventstream._held_range(c eventstream.consumer_catalog, member text, lease interval,
	OUT held integer, OUT low bigint, OUT high bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mine bigint;
BEGIN
	IF c.partitions = 1 THEN
		SELECT 1, k.committed, k.committed INTO held, low, high
		  FROM eventstream.consumer_catalog k WHERE k.id = c.id;
		RETURN;
	END IF;
	PERFORM eventstream._lease(c, member, lease);
	-- _partition_positions for the member's own partitions, its row read
	-- once: through the view, the planner joined the row once per
	-- partition (1 ms at 256 partitions instead of 0.2)
	SELECT m.committed INTO mine FROM eventstream.consumer_members m
	 WHERE m.consumer_id = c.id AND m.member = _held_range.member;
	SELECT count(*), min(greatest(p.committed, mine)), max(greatest(p.committed, mine))
	  INTO held, low, high
	  FROM eventstream.consumer_partitions p
	 WHERE p.consumer_id = c.id AND p.member = _held_range.member;
END
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
	RETURN eventstream._held_positions(c, member);
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
		-- delivered, if set (poll): then one row says they are committed;
		-- else each partition up to its own (read only then: it is a pass
		-- over all of them)
		SELECT m.delivered INTO member_delivered FROM eventstream.consumer_members m
		 WHERE m.consumer_id = c.id AND m.member = commit.member;
		IF id <= member_delivered THEN
			UPDATE eventstream.consumer_members m SET committed = greatest(m.committed, commit.id)
			 WHERE m.consumer_id = c.id AND m.member = commit.member;
		ELSE
			SELECT max(p.delivered) INTO delivered FROM eventstream.consumer_partitions p
			 WHERE p.consumer_id = c.id AND p.member = commit.member;
			delivered := greatest(delivered, member_delivered);
			IF delivered IS NULL OR id > delivered THEN
				RAISE EXCEPTION 'cannot commit consumer "%" past event %, the last one delivered to member "%"',
					consumer, coalesce(delivered, 0), member
					USING ERRCODE = 'object_not_in_prerequisite_state',
						  HINT = 'Commit the id of an event poll() returned to this member.';
			END IF;
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
