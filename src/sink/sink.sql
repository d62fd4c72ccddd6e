-- src/sink/sink.sql: sinks, which push a stream's events out (webhooks, Kafka)
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Sinks: push delivery by the sink worker (src/sink)
-- ---------------------------------------------------------------------

-- One row per sink.  Its options hold the secret, so only the sink's
-- owners read the row; eventstream.sinks shows the rest to them.
CREATE TABLE eventstream.sink_catalog (
	id serial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	stream_id integer NOT NULL REFERENCES eventstream.stream_catalog (id) ON DELETE CASCADE,
	kind text NOT NULL CHECK (kind IN ('webhook', 'kafka')),
	options jsonb NOT NULL,
	owner regrole NOT NULL,
	state text NOT NULL DEFAULT 'running'
		CHECK (state IN ('running', 'paused', 'retrying', 'disabled')),
	last_error text,
	last_success timestamptz,
	latency_p50 interval,			-- commit to acknowledgment, of the last
	latency_p99 interval,			-- 1000 deliveries (the worker's, this run)
	created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON eventstream.sink_catalog FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_catalog_id_seq', '');

-- A sink delivers in partitions (its "concurrency"): the events of one key
-- go to one partition, in id order, one request in flight at a time.  The
-- position is the last event the receiver acknowledged (2xx) or that went
-- to dead letters.
CREATE TABLE eventstream.sink_partitions (
	sink_id integer NOT NULL REFERENCES eventstream.sink_catalog (id) ON DELETE CASCADE,
	partition integer NOT NULL,
	position bigint NOT NULL,
	batch_last bigint,				-- the batch being sent: resent as is after a crash
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz,
	failing_since timestamptz,		-- the batch's first failure (max_age)
	last_status integer,
	last_error text,
	delivered bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0,
	dead_lettered bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (sink_id, partition)
);
REVOKE ALL ON eventstream.sink_partitions FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.sink_partitions', '');

-- Events a sink gave up on, to look at and replay
CREATE TABLE eventstream.dead_letter_catalog (
	id bigserial PRIMARY KEY,
	sink_id integer NOT NULL REFERENCES eventstream.sink_catalog (id) ON DELETE CASCADE,
	event_ids bigint[] NOT NULL,
	attempts integer NOT NULL,
	last_status integer,
	last_error text,
	response text,
	failed_at timestamptz NOT NULL DEFAULT now(),
	replay boolean NOT NULL DEFAULT false
);
REVOKE ALL ON eventstream.dead_letter_catalog FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('eventstream.dead_letter_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.dead_letter_catalog_id_seq', '');

CREATE FUNCTION eventstream.create_sink(name text, stream text, kind text, options jsonb)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_create_sink';
REVOKE ALL ON FUNCTION eventstream.create_sink(text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION eventstream.create_sink(text, text, text, jsonb) IS
  'create a sink that pushes a stream''s events to a receiver';

CREATE FUNCTION eventstream.alter_sink(name text, options jsonb)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_alter_sink';

CREATE FUNCTION eventstream.pause_sink(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_pause_sink';

CREATE FUNCTION eventstream.resume_sink(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_resume_sink';

CREATE FUNCTION eventstream.drop_sink(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_drop_sink';

CREATE FUNCTION eventstream.replay_dead_letters(sink text, ids bigint[] DEFAULT NULL)
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'eventstream_replay_dead_letters';

-- the webhook-signature header of a request: for checking a receiver
CREATE FUNCTION eventstream.webhook_signature(secret text, msg_id text, ts bigint, body text)
RETURNS text
LANGUAGE C STRICT IMMUTABLE
AS 'MODULE_PATHNAME', 'eventstream_webhook_signature';

-- Sinks, to their owners, with the secret masked
CREATE VIEW eventstream.sinks AS
	SELECT s.name,
		   c.name AS stream,
		   s.kind,
		   s.state,
		   s.owner::regrole AS owner,
		   (s.options - 'secret' - 'previous_secret') ||
		   pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
			 'secret', CASE WHEN s.options ? 'secret' THEN '********' END,
			 'previous_secret', CASE WHEN s.options ? 'previous_secret' THEN '********' END))
			 AS options,
		   p.position,
		   greatest(coalesce((SELECT max(l.id) FROM eventstream.event_log l
							  WHERE l.stream_id = s.stream_id), 0) - p.position, 0) AS backlog,
		   p.delivered,
		   p.failed,
		   p.retrying,
		   p.dead_lettered,
		   p.in_flight,
		   extract(epoch FROM pg_catalog.now() -
				   (SELECT l.commit_time FROM eventstream.event_log l
					 WHERE l.stream_id = s.stream_id AND l.id > p.position
					 ORDER BY l.id LIMIT 1))::double precision AS oldest_undelivered_age,
		   s.last_success,
		   coalesce(s.last_error, p.last_error) AS last_error,
		   s.latency_p50,
		   s.latency_p99
	  FROM eventstream.sink_catalog s
	  JOIN eventstream.stream_catalog c ON c.id = s.stream_id
	  CROSS JOIN LATERAL (
		SELECT min(q.position) AS position, sum(q.delivered) AS delivered,
			   sum(q.failed) AS failed, count(*) FILTER (WHERE q.attempts > 0) AS retrying,
			   sum(q.dead_lettered) AS dead_lettered,
			   count(*) FILTER (WHERE q.batch_last IS NOT NULL) AS in_flight,
			   (array_agg(q.last_error ORDER BY q.attempts DESC)
				  FILTER (WHERE q.last_error IS NOT NULL))[1] AS last_error
		  FROM eventstream.sink_partitions q WHERE q.sink_id = s.id) p
	 WHERE pg_catalog.pg_has_role(s.owner, 'USAGE');
GRANT SELECT ON eventstream.sinks TO PUBLIC;

CREATE VIEW eventstream.dead_letters AS
	SELECT s.name AS sink, d.id, d.event_ids, d.attempts, d.last_status, d.last_error,
		   d.response, d.failed_at, d.replay
	  FROM eventstream.dead_letter_catalog d
	  JOIN eventstream.sink_catalog s ON s.id = d.sink_id
	 WHERE pg_catalog.pg_has_role(s.owner, 'USAGE');
GRANT SELECT ON eventstream.dead_letters TO PUBLIC;
