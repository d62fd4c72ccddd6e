--
-- metrics: the view eventstream.metrics -- its rows for every kind of
-- object, their values, who may read it -- and the collector configuration
-- in examples/monitoring, which must list exactly the view's metrics.
--
CREATE EXTENSION pg_eventstream;
CREATE TABLE mt_t (id int PRIMARY KEY, g int, v int);
ALTER TABLE mt_t REPLICA IDENTITY FULL;
SELECT eventstream.create_stream('mt', '{public.mt_t}');
SELECT eventstream.create_consumer('mt_c', 'mt');
SELECT eventstream.create_consumer('mt_p', 'mt', partitions => 3);
SELECT eventstream.create_aggregate('mt_agg', $$SELECT g, count(*) AS n FROM public.mt_t GROUP BY g$$);
SELECT eventstream.create_sink('mt_s', 'mt', 'webhook', '{"url": "http://127.0.0.1:9/x"}');
SELECT eventstream.pause_sink('mt_s');
INSERT INTO mt_t SELECT g, g % 3, g FROM generate_series(1, 50) g;
SELECT eventstream.sync() IS NOT NULL AS synced;
SELECT count(*) FROM eventstream.poll('mt_c', 20);
SELECT eventstream.commit('mt_c', 20);

-- one row per metric and object; the values that are not times
SELECT metric, stream, object, value
  FROM eventstream.metrics
 WHERE metric !~ '(seconds|bytes|per_second|events_total)$'
 ORDER BY metric, object;
SELECT metric, value > 0 AS positive
  FROM eventstream.metrics
 WHERE metric IN ('eventstream_stream_bytes', 'eventstream_slot_retained_wal_bytes',
				  'eventstream_consumer_lag_seconds', 'eventstream_sink_oldest_undelivered_age_seconds')
 ORDER BY metric, object;

-- not PUBLIC: pg_monitor reads it
CREATE ROLE mt_monitor IN ROLE pg_monitor;
CREATE ROLE mt_nobody;
GRANT USAGE ON SCHEMA eventstream TO mt_monitor, mt_nobody;
SET ROLE mt_nobody;
SELECT count(*) FROM eventstream.metrics;
RESET ROLE;
SET ROLE mt_monitor;
SELECT count(DISTINCT metric) AS metrics, count(*) AS rows FROM eventstream.metrics;
-- every consumer's position, the partitioned one's too, whoever owns it
SELECT object, value FROM eventstream.metrics
 WHERE metric = 'eventstream_consumer_position' ORDER BY object;
RESET ROLE;

-- the collector for sql_exporter names exactly the view's metrics
\getenv abs_srcdir PG_ABS_SRCDIR
\set collector_file :abs_srcdir '/examples/monitoring/sql_exporter.collector.yml'
\set collector `cat :collector_file`
SELECT m[1] AS in_collector_not_in_view
  FROM regexp_matches(:'collector', 'metric_name: (\S+)', 'g') m
EXCEPT SELECT metric FROM eventstream.metrics;
SELECT DISTINCT metric AS in_view_not_in_collector FROM eventstream.metrics
EXCEPT SELECT m[1] FROM regexp_matches(:'collector', 'metric_name: (\S+)', 'g') m;
-- and each of its queries reads only its own metric
SELECT count(*) AS entries,
	   count(*) FILTER (WHERE e ~ ('\n    query: [^\n]* WHERE metric = ''' || split_part(e, E'\n', 1) || ''''))
		 AS queries_of_their_metric
  FROM unnest(string_to_array(:'collector', '  - metric_name: ')) WITH ORDINALITY u(e, n)
 WHERE n > 1;

SELECT eventstream.drop_aggregate('mt_agg');
REVOKE USAGE ON SCHEMA eventstream FROM mt_monitor, mt_nobody;
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP TABLE mt_t;
DROP ROLE mt_monitor, mt_nobody;
