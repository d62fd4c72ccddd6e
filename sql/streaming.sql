--
-- streaming: with stream-changes, a transaction larger than
-- logical_decoding_work_mem (64kB in the test configuration) is written
-- in stream_start / stream_stop blocks before it commits, and ends with
-- stream_commit or stream_abort.  Without the option, the same
-- transaction is written whole after its commit.
--
SELECT 'init' FROM pg_create_logical_replication_slot('stream', 'pg_eventstream');
CREATE TABLE big(id int PRIMARY KEY, pad text);

-- a committed large transaction with a rolled-back subtransaction
BEGIN;
INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;
SAVEPOINT s;
INSERT INTO big SELECT g, 'rolled back' FROM generate_series(2001, 3000) g;
ROLLBACK TO SAVEPOINT s;
INSERT INTO big VALUES (5000, 'after savepoint');
COMMIT;

CREATE TEMP TABLE streamed AS
  SELECT row_number() OVER () AS n, data::jsonb AS ev
    FROM es_peek('stream', 'stream-changes', '1', 'include-xids', '1') AS data;

-- the event kinds, in the order of their first appearance
-- (how many blocks depends on memory accounting, so only "several")
SELECT ev->>'op' AS op,
       CASE WHEN ev->>'op' LIKE 'stream_%t%' AND count(*) > 1
            THEN 'several' ELSE count(*)::text END AS count
  FROM streamed GROUP BY 1 ORDER BY min(n);
-- streamed changes carry no commit LSN yet; stream_commit tells the count
SELECT count(*) FILTER (WHERE ev ? 'commit_lsn') AS with_commit_lsn
  FROM streamed WHERE ev->>'op' = 'insert';
SELECT ev->'event_count' AS event_count FROM streamed WHERE ev->>'op' = 'stream_commit';
-- changes of the rolled-back subtransaction are marked with their subxid
-- and named by a stream_abort of that subxid, so a consumer can drop them
SELECT count(*) AS rolled_back_changes,
       count(*) FILTER (WHERE ev->'subxid' IN
         (SELECT ev->'subxid' FROM streamed WHERE ev->>'op' = 'stream_abort')) AS aborted_by_event
  FROM streamed WHERE ev->'new'->>'pad' = 'rolled back';
-- (a top-level transaction that aborts after being streamed is in the
-- isolation test streaming_abort, where it is in progress while decoding)
-- every streamed change sits inside a stream_start / stream_stop block
SELECT bool_and(inside) AS all_inside FROM (
  SELECT ev->>'op' IN ('insert', 'update', 'delete') AS is_change,
         sum(CASE ev->>'op' WHEN 'stream_start' THEN 1 WHEN 'stream_stop' THEN -1 ELSE 0 END)
           OVER (ORDER BY n) = 1 AS inside
    FROM streamed) AS s
 WHERE is_change;

-- without stream-changes: only the committed transaction, whole, after commit
SELECT data::jsonb->>'op' AS op, count(*)
  FROM es_peek('stream', 'include-transaction', '1') AS data GROUP BY 1 ORDER BY 1;

SELECT 'consumed' FROM es_changes('stream') LIMIT 1;
SELECT pg_drop_replication_slot('stream');
