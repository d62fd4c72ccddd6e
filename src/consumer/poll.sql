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
		SELECT r.held, r.low, r.high INTO held, low, high
		  FROM eventstream._held_range(c, member, lease) r;
		-- the last of the next max_events events: where every partition is
		-- this member's and at one position (always so unpartitioned), the
		-- next ids after it, else the ones of its partitions
		whole := held = c.partitions AND low = high;
		IF whole THEN
			last := eventstream._next_last(c.stream_id, low, max_events);
		ELSE
			pos := eventstream._held_positions(c, member);
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
