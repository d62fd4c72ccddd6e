--
-- messages: logical messages (transactional or not; JSON, text and binary
-- content), the messages and message-prefixes options, and only-local.
--
SELECT 'init' FROM pg_create_logical_replication_slot('msgs', 'pg_eventstream');
CREATE TABLE m(id int PRIMARY KEY);

BEGIN;
INSERT INTO m VALUES (1);
SELECT 'sent' FROM pg_logical_emit_message(true, 'outbox', '{"type":"refund","order":42}');
SELECT 'sent' FROM pg_logical_emit_message(true, 'outbox', '  [1, 2,
  3]  ');
COMMIT;
SELECT 'sent' FROM pg_logical_emit_message(false, 'audit', 'plain "text"');
SELECT 'sent' FROM pg_logical_emit_message(true, 'audit', '42');
SELECT 'sent' FROM pg_logical_emit_message(true, 'bin', '\x00deadbeef'::bytea);
SELECT 'sent' FROM pg_logical_emit_message(true, 'bin', '\xc328'::bytea);   -- invalid UTF-8
SELECT 'sent' FROM pg_logical_emit_message(true, 'empty', '');
-- a rolled-back transactional message never appears; a non-transactional one does
BEGIN;
SELECT 'sent' FROM pg_logical_emit_message(true, 'outbox', 'rolled back');
SELECT 'sent' FROM pg_logical_emit_message(false, 'audit', 'kept');
ROLLBACK;
-- decoding reads only flushed WAL, and nothing above flushed the message
CHECKPOINT;

SELECT * FROM es_peek('msgs', 'include-transaction', '1');
SELECT * FROM es_peek('msgs', 'message-prefixes', 'audit,empty');
SELECT * FROM es_peek('msgs', 'messages', 'false');
SELECT * FROM es_peek('msgs', 'format', 'debezium', 'message-prefixes', 'outbox');
SELECT regexp_replace(data, '"id":"[0-9A-F]+/[0-9A-F]+:', '"id":"<lsn>:')
  FROM es_peek('msgs', 'format', 'cloudevents', 'message-prefixes', 'outbox,audit') AS data;
SELECT 'consumed' FROM es_changes('msgs') LIMIT 1;

-- only-local: changes replayed under a replication origin are skipped
SELECT 'origin' FROM pg_replication_origin_create('upstream');
INSERT INTO m VALUES (2);
SELECT 'setup' FROM pg_replication_origin_session_setup('upstream');
INSERT INTO m VALUES (3);
SELECT 'sent' FROM pg_logical_emit_message(true, 'replicated', 'from upstream');
SELECT pg_replication_origin_session_reset();
INSERT INTO m VALUES (4);
SELECT * FROM es_peek('msgs', 'only-local', '1');
SELECT * FROM es_changes('msgs');
SELECT pg_replication_origin_drop('upstream');

SELECT pg_drop_replication_slot('msgs');
