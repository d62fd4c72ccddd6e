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
