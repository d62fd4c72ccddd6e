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
