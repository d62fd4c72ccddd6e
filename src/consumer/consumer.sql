-- src/consumer/consumer.sql: consumers: positions, partitions, leases, poll, commit, seek
-- (concatenated into the install script by the Makefile)

-- ---------------------------------------------------------------------
-- Consumers: a position in a stream, committed by the reader
-- ---------------------------------------------------------------------

-- One row per consumer.  Consumers are their owners': row-level security
-- lets roles see every consumer but change only those of roles they
-- belong to, so the consumer functions run with the caller's rights, and
-- commit and seek are part of the caller's transaction.
CREATE TABLE eventstream.consumer_catalog (
	id serial PRIMARY KEY,
	name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
	stream_id integer NOT NULL REFERENCES eventstream.stream_catalog (id) ON DELETE CASCADE,
	owner regrole NOT NULL,
	committed bigint NOT NULL CHECK (committed >= 0),
	delivered bigint NOT NULL,
	partitions integer NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 1024),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (delivered >= committed)
);
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_catalog_id_seq', '');

-- Partitioned consumers: a position and a lease per partition.  An
-- event's partition is a hash of its key, so one key always lands in the
-- same partition and keeps its order there.
CREATE TABLE eventstream.consumer_partitions (
	consumer_id integer NOT NULL REFERENCES eventstream.consumer_catalog (id) ON DELETE CASCADE,
	partition integer NOT NULL,
	committed bigint NOT NULL,
	delivered bigint NOT NULL,
	member text,
	lease_until timestamptz,
	PRIMARY KEY (consumer_id, partition)
);
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_partitions', '');
GRANT SELECT, INSERT, UPDATE ON eventstream.consumer_partitions TO PUBLIC;
ALTER TABLE eventstream.consumer_partitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY partition_read ON eventstream.consumer_partitions FOR SELECT
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k WHERE k.id = consumer_id));
CREATE POLICY partition_change ON eventstream.consumer_partitions FOR ALL
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
				   WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
						WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')));

-- the members of partitioned consumers, live while their lease runs; how
-- far every partition a member holds is delivered and committed, beyond
-- the partitions' own rows (positions.sql)
CREATE TABLE eventstream.consumer_members (
	consumer_id integer NOT NULL REFERENCES eventstream.consumer_catalog (id) ON DELETE CASCADE,
	member text NOT NULL,
	lease_until timestamptz NOT NULL,
	PRIMARY KEY (consumer_id, member),
	committed bigint,
	delivered bigint
);
SELECT pg_catalog.pg_extension_config_dump('eventstream.consumer_members', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON eventstream.consumer_members TO PUBLIC;
ALTER TABLE eventstream.consumer_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY member_read ON eventstream.consumer_members FOR SELECT
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k WHERE k.id = consumer_id));
CREATE POLICY member_change ON eventstream.consumer_members FOR ALL
	USING (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
				   WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')))
	WITH CHECK (EXISTS (SELECT 1 FROM eventstream.consumer_catalog k
						WHERE k.id = consumer_id AND pg_catalog.pg_has_role(k.owner, 'USAGE')));

-- the partition of an event with this key (or, without a key, this id)
CREATE FUNCTION eventstream.partition_of(key jsonb, id bigint, partitions integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN partitions <= 1 THEN 0
		   ELSE ((pg_catalog.hashtext(coalesce(key::text, id::text))::bigint % partitions + partitions)
				 % partitions)::integer END
$$;
GRANT SELECT, INSERT, DELETE ON eventstream.consumer_catalog TO PUBLIC;
GRANT UPDATE (committed, delivered, updated_at) ON eventstream.consumer_catalog TO PUBLIC;
GRANT USAGE ON SEQUENCE eventstream.consumer_catalog_id_seq TO PUBLIC;
ALTER TABLE eventstream.consumer_catalog ENABLE ROW LEVEL SECURITY;
-- a consumer is seen by its owners and by roles that may read its stream,
-- and made only on a stream its owner may read
CREATE POLICY consumer_read ON eventstream.consumer_catalog FOR SELECT
	USING (pg_catalog.pg_has_role(owner, 'USAGE') OR eventstream._may_read_stream(stream_id));
CREATE POLICY consumer_create ON eventstream.consumer_catalog FOR INSERT
	WITH CHECK (owner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
				AND eventstream._may_read_stream(stream_id));
CREATE POLICY consumer_change ON eventstream.consumer_catalog FOR UPDATE
	USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY consumer_drop ON eventstream.consumer_catalog FOR DELETE
	USING (pg_catalog.pg_has_role(owner, 'USAGE'));

-- the consumer row, for update when it is to be changed; an error names it
CREATE FUNCTION eventstream._consumer(consumer text, for_update boolean)
RETURNS eventstream.consumer_catalog
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog;
BEGIN
	IF consumer IS NULL THEN
		RAISE EXCEPTION 'consumer must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO c FROM eventstream.consumer_catalog k WHERE k.name = consumer;
	IF c.id IS NULL THEN
		RAISE EXCEPTION 'consumer "%" does not exist', consumer
			USING ERRCODE = 'undefined_object',
				  HINT = 'The consumers are listed in eventstream.consumers.';
	END IF;
	IF for_update THEN
		IF NOT pg_has_role(c.owner, 'USAGE') THEN
			RAISE EXCEPTION 'must be owner of consumer "%"', consumer
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		SELECT * INTO c FROM eventstream.consumer_catalog k WHERE k.id = c.id FOR UPDATE;
	END IF;
	RETURN c;
END
$$;

CREATE FUNCTION eventstream.create_consumer(name text, stream text,
	start_at text DEFAULT 'earliest', partitions integer DEFAULT 1)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sid integer := eventstream._stream_id(stream);
	pos bigint;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid consumer name "%"', name
			USING ERRCODE = 'invalid_name',
				  DETAIL = 'A consumer name is 1 to 63 letters, digits, "_", "." or "-".';
	END IF;
	PERFORM eventstream._check_read(stream, sid);
	-- (a consumer of another owner is invisible here: see the INSERT)
	IF EXISTS (SELECT 1 FROM eventstream.consumer_catalog k WHERE k.name = create_consumer.name) THEN
		RAISE EXCEPTION 'consumer "%" already exists', name USING ERRCODE = 'duplicate_object';
	END IF;
	IF start_at = 'earliest' THEN
		SELECT coalesce(min(l.id) - 1, 0) INTO pos FROM eventstream.event_log l WHERE l.stream_id = sid;
	ELSIF start_at = 'latest' THEN
		SELECT coalesce(max(l.id), 0) INTO pos FROM eventstream.event_log l WHERE l.stream_id = sid;
	ELSE
		RAISE EXCEPTION 'invalid start_at "%"', coalesce(start_at, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'start_at is ''earliest'' or ''latest''.';
	END IF;
	IF partitions IS NULL OR partitions < 1 OR partitions > 1024 THEN
		RAISE EXCEPTION 'partitions must be between 1 and 1024, not %', coalesce(partitions::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	BEGIN
		INSERT INTO eventstream.consumer_catalog (name, stream_id, owner, committed, delivered, partitions)
			VALUES (name, sid, (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user), pos, pos,
					partitions);
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'consumer "%" already exists', name USING ERRCODE = 'duplicate_object';
	END;
	IF partitions > 1 THEN
		INSERT INTO eventstream.consumer_partitions (consumer_id, partition, committed, delivered)
		SELECT k.id, g, pos, pos
		  FROM eventstream.consumer_catalog k, generate_series(0, create_consumer.partitions - 1) g
		 WHERE k.name = create_consumer.name;
	END IF;
END
$$;
COMMENT ON FUNCTION eventstream.create_consumer(text, text, text, integer) IS
  'create a consumer of a stream, starting at its earliest retained or its latest event';

CREATE FUNCTION eventstream.drop_consumer(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c eventstream.consumer_catalog := eventstream._consumer(name, true);
BEGIN
	DELETE FROM eventstream.consumer_catalog k WHERE k.id = c.id;
END
$$;

-- (positions, commit, seek and the consumers view are in positions.sql;
-- poll() and the leases in poll.sql)
