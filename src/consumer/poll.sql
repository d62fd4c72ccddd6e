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
