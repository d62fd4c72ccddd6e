--
-- sinks: create_sink and friends -- arguments, options and rights -- and
-- Standard Webhooks signatures.  Delivery itself is in test/t/012_webhook.pl.
--
CREATE EXTENSION pg_eventstream;
CREATE TABLE sk_t (id int PRIMARY KEY, v text);
SELECT eventstream.create_stream('sk', '{public.sk_t}');

-- the test vector of the Standard Webhooks specification
SELECT eventstream.webhook_signature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
  = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' AS standard_vector;

-- every option checked, nothing created on an error
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1:9/x", "nope": 1}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "ftp://127.0.0.1/x"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://user:pw@127.0.0.1/x"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "secret": "abc"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "secret": "whsec_c2hvcnQ="}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "batch_size": -1}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "concurrency": "8"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "timeout": "10 years"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "headers": {"webhook-id": "x"}}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "headers": {"X-A": "a\nb"}}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "format": "yaml"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "retry_schedule": []}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "previous_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1/x", "max_age": "10 ms"}');
-- kafka: brokers and topic required, the template's placeholders known,
-- librdkafka's properties checked by librdkafka, ours not overridden
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092"}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"topic": "t"}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1", "topic": "t"}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "pg.{database}"}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "a b"}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t", "url": "http://x/"}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t", "config": {"no.such.property": 1}}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t", "config": {"linger.ms": "soon"}}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t", "config": {"enable.idempotence": false}}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t", "config": {"bootstrap.servers": "10.0.0.1:9092"}}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t", "tombstones": "yes"}');
SELECT eventstream.create_sink('h', 'sk', 'smtp', '{}');
SELECT eventstream.create_sink('h', 'nosuch', 'webhook', '{"url": "http://127.0.0.1/x"}');
SELECT eventstream.create_sink('bad name', 'sk', 'webhook', '{"url": "http://127.0.0.1/x"}');
SELECT eventstream.create_sink(NULL, 'sk', 'webhook', '{"url": "http://127.0.0.1/x"}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '"http://127.0.0.1/x"');
-- eventstream.sink_allowed_hosts guards against reaching internal services
SET eventstream.sink_allowed_hosts = 'hooks.example.com';
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://169.254.169.254/latest"}');
SELECT eventstream.create_sink('h', 'sk', 'kafka', '{"brokers": "hooks.example.com:9092,10.0.0.7:9092", "topic": "t"}');
RESET eventstream.sink_allowed_hosts;
SELECT count(*) AS sinks FROM eventstream.sinks;

SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1:9/x",
  "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "batch_size": 10, "concurrency": 2,
  "headers": {"X-Team": "billing"}}');
SELECT eventstream.create_sink('h', 'sk', 'webhook', '{"url": "http://127.0.0.1:9/x"}');
SELECT name, stream, kind, state, options->>'secret' AS secret, options->'headers' AS headers
  FROM eventstream.sinks;
SELECT count(*) AS partitions FROM eventstream.sink_partitions;
SELECT eventstream.alter_sink('h', '{"concurrency": 3, "batch_size": 0}');
SELECT eventstream.alter_sink('h', '{"concurrency": 3}');
-- a secret rotated: both, then the old one removed (a null removes an option)
SELECT eventstream.alter_sink('h', '{"secret": "whsec_c2VjcmV0LWJlaW5nLXJvdGF0ZWQtb3V0LWF0LW9uY2U=",
  "previous_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}');
SELECT options->>'secret' AS secret, options->>'previous_secret' AS previous FROM eventstream.sinks WHERE name = 'h';
SELECT eventstream.alter_sink('h', '{"previous_secret": null}');
SELECT options ? 'previous_secret' AS rotating FROM eventstream.sinks WHERE name = 'h';
SELECT count(*) AS partitions FROM eventstream.sink_partitions;
SELECT eventstream.pause_sink('h');
SELECT state FROM eventstream.sinks;
SELECT eventstream.resume_sink('h');
SELECT state FROM eventstream.sinks;
SELECT eventstream.replay_dead_letters('h');
SELECT eventstream.alter_sink('nosuch', '{}');

-- create_sink is not for PUBLIC; another role neither sees nor changes a sink
CREATE ROLE sk_other;
SET ROLE sk_other;
SELECT eventstream.create_sink('mine', 'sk', 'webhook', '{"url": "http://127.0.0.1/x"}');
SELECT count(*) AS visible FROM eventstream.sinks;
SELECT count(*) FROM eventstream.sink_catalog;
SELECT eventstream.pause_sink('h');
SELECT eventstream.drop_sink('h');
RESET ROLE;
-- a role granted create_sink still needs to read the stream's tables
GRANT EXECUTE ON FUNCTION eventstream.create_sink(text, text, text, jsonb) TO sk_other;
SET ROLE sk_other;
SELECT eventstream.create_sink('mine', 'sk', 'webhook', '{"url": "http://127.0.0.1/x"}');
RESET ROLE;
-- librdkafka properties that name files, libraries or commands are a
-- superuser's (checked before anything else is)
GRANT USAGE ON SCHEMA eventstream TO sk_other;
SET ROLE sk_other;
SELECT eventstream.create_sink('mine', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t",
  "config": {"plugin.library.paths": "/tmp/evil.so"}}');
SELECT eventstream.create_sink('mine', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t",
  "config": {"ssl.key.location": "/etc/ssl/private/ssl-cert-snakeoil.key"}}');
SELECT eventstream.create_sink('mine', 'sk', 'kafka', '{"brokers": "127.0.0.1:9092", "topic": "t",
  "config": {"sasl.kerberos.kinit.cmd": "touch /tmp/owned"}}');
RESET ROLE;
REVOKE USAGE ON SCHEMA eventstream FROM sk_other;

-- a kafka sink: one ordered pipeline, its options shown
SELECT eventstream.create_sink('k', 'sk', 'kafka', '{"brokers": "127.0.0.1:9", "topic": "pg.{schema}.{table}",
  "format": "debezium", "tombstones": true, "config": {"compression.type": "lz4"}}');
SELECT name, kind, state, options->>'topic' AS topic, position IS NOT NULL AS has_position
  FROM eventstream.sinks WHERE name = 'k';
SELECT count(*) AS partitions FROM eventstream.sink_partitions p
  JOIN eventstream.sink_catalog s ON s.id = p.sink_id WHERE s.name = 'k';
SELECT eventstream.alter_sink('k', '{"config": {"acks": "none-of-them"}}');
SELECT eventstream.drop_sink('k');

SELECT eventstream.drop_sink('h');
SELECT count(*) AS sinks, (SELECT count(*) FROM eventstream.sink_partitions) AS partitions
  FROM eventstream.sink_catalog;
DROP EXTENSION pg_eventstream;
CALL es_wait_worker_gone();
DROP TABLE sk_t;
DROP ROLE sk_other;
