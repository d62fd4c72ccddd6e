#!/usr/bin/env bash
# test/bench/consume.sh - consumers against queues, same run.
#
# Poll throughput: N events (default 200k) are read and committed in
# batches of 100 and of 1000, one transaction per batch, by a consumer.
# Anchors, the same N messages consumed the same way:
#   - pgmq, built from its source when PGMQ_SRC names its pgmq-extension
#     directory (skipped, with a message, otherwise): pgmq.read, then
#     pgmq.delete of the ids read;
#   - a plain queue table, "DELETE ... WHERE id IN (SELECT ... FOR UPDATE
#     SKIP LOCKED) RETURNING", the pattern such queues use.
#
# Partitioned poll: one member drains the same N events from consumers
# with 1, 8, 64 and 256 partitions, batch 100; the time and the slowest
# single poll are printed against partitions = 1.
#
# Growth: a stream's log is filled to each size of GROWTH (default 100k,
# 1M and 5M events, segments of 1M), and at each size 200 polls of 100
# with a commit each, near the log's end, and 200 reads of 100 events at
# random ids are timed inside the server; their median and p99, and the
# medians over the smallest size's.  The cost of a read or a poll should
# not grow with the log.
#
# Latency: pgbench inserts rows at a fixed rate for DURATION seconds while
# a consumer waits in poll(); each event's latency is the time from its
# source transaction's commit to the return of the poll that delivered it.
# p50 and p99 are printed for each case of LATENCY, rate:commit[:busy] --
# commit "on" or "off" (the inserting sessions' synchronous_commit), and
# "busy": two more pgbench clients write other tables (TPC-B, not in the
# stream) as fast as they can meanwhile, so the machine is saturated and
# the worker decodes their WAL too.
#
#   bash test/bench/consume.sh       (env EVENTS=200000 DURATION=10
#                                     PGMQ_SRC=.../pgmq/pgmq-extension
#                                     PARTS="1 8 64 256"
#                                     LATENCY="100:on 5000:on 100:off 100:on:busy 100:off:busy"
#                                     GROWTH="100000 1000000 5000000"
#                                     SECTIONS="throughput partitions growth latency")
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-200000}
DURATION=${DURATION:-10}
PARTS=${PARTS:-1 8 64 256}
LATENCY=${LATENCY:-100:on 5000:on 100:off 100:on:busy 100:off:busy}
GROWTH=${GROWTH:-100000 1000000 5000000}
SECTIONS=${SECTIONS:-throughput partitions growth latency}
section() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

es_base_packages
es_install_packages bc
es_build_install
pgmq=0
anchor_install pgmq "${PGMQ_SRC:-}" && pgmq=1

bench_cluster "${BENCH_PORT:-55434}" \
	"logical_decoding_work_mem = 256MB" \
	"shared_buffers = 512MB" \
	"synchronous_commit = on"

psql_b <<SQL
CREATE EXTENSION pg_eventstream;
CREATE TABLE src (id bigserial PRIMARY KEY, payload text);
SELECT eventstream.create_stream('src', '{src}');
INSERT INTO src (payload) SELECT 'event ' || g FROM generate_series(1, $EVENTS) g;
SELECT eventstream.sync('10 min');
CREATE TABLE queue (id bigserial PRIMARY KEY, payload jsonb);
CREATE TABLE queue_src AS SELECT g AS id, jsonb_build_object('payload', 'event ' || g) AS payload
  FROM generate_series(1, $EVENTS) g;
CREATE PROCEDURE consume_stream(name text, batch int) LANGUAGE plpgsql AS \$\$
DECLARE last bigint;
BEGIN
  LOOP
    SELECT max(id) INTO last FROM eventstream.poll(name, batch);
    EXIT WHEN last IS NULL;
    PERFORM eventstream.commit(name, last);
    COMMIT;
  END LOOP;
END \$\$;
CREATE TABLE poll_times (parts int, ms double precision);
CREATE PROCEDURE consume_member(name text, batch int, parts int) LANGUAGE plpgsql AS \$\$
DECLARE last bigint; t0 timestamptz;
BEGIN
  LOOP
    t0 := clock_timestamp();
    SELECT max(id) INTO last FROM eventstream.poll(name, batch, member => CASE WHEN parts > 1 THEN 'm1' END);
    INSERT INTO poll_times VALUES (parts, extract(epoch FROM clock_timestamp() - t0) * 1000);
    EXIT WHEN last IS NULL;
    PERFORM eventstream.commit(name, last, member => CASE WHEN parts > 1 THEN 'm1' END);
    COMMIT;
  END LOOP;
END \$\$;
CREATE PROCEDURE consume_queue(batch int) LANGUAGE plpgsql AS \$\$
DECLARE n bigint;
BEGIN
  LOOP
    WITH taken AS (
      DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT batch FOR UPDATE SKIP LOCKED)
      RETURNING id, payload)
    SELECT count(*) INTO n FROM taken;
    EXIT WHEN n = 0;
    COMMIT;
  END LOOP;
END \$\$;
SQL
if [ "$pgmq" = 1 ]; then
	psql_b <<'SQL'
CREATE EXTENSION pgmq;
SELECT pgmq.create('bench') \g /dev/null
CREATE PROCEDURE consume_pgmq(batch int) LANGUAGE plpgsql AS $$
DECLARE ids bigint[];
BEGIN
  LOOP
    SELECT array_agg(msg_id) INTO ids FROM pgmq.read('bench', 30, batch);
    EXIT WHEN ids IS NULL;
    PERFORM pgmq.delete('bench', ids);
    COMMIT;
  END LOOP;
END $$;
SQL
fi

if section throughput; then
echo "== poll throughput: $EVENTS events"
printf '%-44s %8s %12s %10s %10s\n' "" batch "events/s" "vs pgmq" "vs queue"
for batch in 100 1000; do
	psql_b -c "INSERT INTO queue SELECT * FROM queue_src" -c "VACUUM ANALYZE queue"
	psql_b -c "SELECT eventstream.create_consumer('c$batch', 'src')" >/dev/null
	tm=
	if [ "$pgmq" = 1 ]; then
		psql_b -c "SELECT pgmq.send_batch('bench', array_agg(payload ORDER BY id)) FROM queue_src" \
			-c "VACUUM ANALYZE pgmq.q_bench" >/dev/null
		t0=$(now); psql_b -c "CALL consume_pgmq($batch)"; tm=$(echo "$(now) - $t0" | bc -l)
		left=$(psql_b -c "SELECT count(*) FROM pgmq.q_bench")
		[ "$left" -eq 0 ] || { echo "pgmq left $left messages" >&2; exit 1; }
	fi
	t0=$(now); psql_b -c "CALL consume_queue($batch)"; tq=$(echo "$(now) - $t0" | bc -l)
	t0=$(now); psql_b -c "CALL consume_stream('c$batch', $batch)"; ts=$(echo "$(now) - $t0" | bc -l)
	left=$(psql_b -c "SELECT lag_events FROM eventstream.consumers WHERE name = 'c$batch'")
	[ "$left" -eq 0 ] || { echo "consumer c$batch did not reach the end ($left left)" >&2; exit 1; }
	vs_pgmq=-
	[ -z "$tm" ] || vs_pgmq=$(printf '%.2fx' "$(echo "$tm / $ts" | bc -l)")
	printf '%-44s %8d %12.0f %10s %9.2fx\n' "consumer: poll + commit" "$batch" \
		"$(echo "$EVENTS / $ts" | bc -l)" "$vs_pgmq" "$(echo "$tq / $ts" | bc -l)"
	[ -z "$tm" ] || printf '%-44s %8d %12.0f %10s %9.2fx\n' "pgmq: read + delete (anchor)" "$batch" \
		"$(echo "$EVENTS / $tm" | bc -l)" 1.00x "$(echo "$tq / $tm" | bc -l)"
	printf '%-44s %8d %12.0f %10s %9.2fx\n' "queue table: DELETE ... SKIP LOCKED (anchor)" "$batch" \
		"$(echo "$EVENTS / $tq" | bc -l)" "" 1
done
fi

if section partitions; then
echo "== partitioned poll: one member drains $EVENTS events, batch 100"
printf '%-20s %10s %12s %14s %10s\n' partitions seconds "events/s" "slowest poll" "vs 1"
base=
for parts in $PARTS; do
	psql_b -c "SELECT eventstream.create_consumer('p$parts', 'src', partitions => $parts)" >/dev/null
	t0=$(now); psql_b -c "CALL consume_member('p$parts', 100, $parts)"; tp=$(echo "$(now) - $t0" | bc -l)
	left=$(psql_b -c "SELECT lag_events FROM eventstream.consumers WHERE name = 'p$parts'")
	[ "$left" -eq 0 ] || { echo "consumer p$parts did not reach the end ($left left)" >&2; exit 1; }
	[ -n "$base" ] || base=$tp
	printf '%-20s %10.2f %12.0f %11.1f ms %9.2fx\n' "$parts" "$tp" "$(echo "$EVENTS / $tp" | bc -l)" \
		"$(psql_b -c "SELECT max(ms) FROM poll_times WHERE parts = $parts")" "$(echo "$tp / $base" | bc -l)"
done
fi

if section growth; then
echo "== reads and polls as the log grows (segments of 1M events)"
psql_b <<'SQL'
CREATE TABLE grow (id bigserial PRIMARY KEY, payload text);
SET eventstream.segment_size = 1000000;
SELECT eventstream.create_stream('grow', '{grow}') \g /dev/null
RESET eventstream.segment_size;
SELECT eventstream.create_consumer('gc', 'grow') \g /dev/null
CREATE TABLE grow_times (size bigint, what text, ms double precision);
CREATE PROCEDURE measure_growth(size bigint, n int) LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  last bigint;
  after bigint;
BEGIN
  PERFORM eventstream.seek('gc', greatest(0, size - 100 * n - 1000));
  COMMIT;
  FOR i IN 1..n LOOP
    t0 := clock_timestamp();
    SELECT max(id) INTO last FROM eventstream.poll('gc', 100);
    PERFORM eventstream.commit('gc', last);
    INSERT INTO grow_times VALUES (size, 'poll 100 + commit', extract(epoch FROM clock_timestamp() - t0) * 1000);
    COMMIT;
  END LOOP;
  FOR i IN 1..n LOOP
    after := floor(random() * (size - 100))::bigint;
    t0 := clock_timestamp();
    PERFORM count(*) FROM eventstream.read('grow', after, 100);
    INSERT INTO grow_times VALUES (size, 'read 100 at a random id', extract(epoch FROM clock_timestamp() - t0) * 1000);
    COMMIT;
  END LOOP;
END $$;
SQL
printf '%-26s %10s %10s %10s %12s %12s\n' "" events segments "median ms" "p99 ms" "vs first"
filled=0
for size in $GROWTH; do
	while [ "$filled" -lt "$size" ]; do
		step=$((size - filled))
		[ "$step" -le 100000 ] || step=100000
		psql_b -c "INSERT INTO grow (payload) SELECT 'event ' || g FROM generate_series(1, $step) g"
		filled=$((filled + step))
	done
	psql_b -c "SELECT eventstream.sync('30 min')" >/dev/null
	psql_b -c "CALL measure_growth($size, 200)"
	segs=$(psql_b -c "SELECT segments FROM eventstream.streams WHERE name = 'grow'")
	psql_b -c "SELECT what, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms),
	                  percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) /
	                  (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY f.ms) FROM grow_times f
	                    WHERE f.what = g.what AND f.size = (SELECT min(size) FROM grow_times))
	             FROM grow_times g WHERE size = $size GROUP BY what ORDER BY what" |
		while IFS='|' read -r what med p99 ratio; do
			printf '%-26s %10d %10d %10.2f %12.2f %11.2fx\n' "$what" "$size" "$segs" "$med" "$p99" "$ratio"
		done
done
fi

section latency || exit 0
echo "== latency: source commit to the return of a waiting poll"
psql_b <<'SQL'
CREATE TABLE latency (name text, ms double precision);
CREATE PROCEDURE measure(name text, seconds int) LANGUAGE plpgsql AS $$
DECLARE
  until timestamptz := clock_timestamp() + make_interval(secs => seconds);
  last bigint;
BEGIN
  WHILE clock_timestamp() < until LOOP
    WITH got AS (SELECT id, commit_time FROM eventstream.poll(name, 10000, wait => '1 s')),
         ins AS (INSERT INTO latency SELECT name, extract(epoch FROM clock_timestamp() - commit_time) * 1000 FROM got)
    SELECT max(id) INTO last FROM got;
    IF last IS NOT NULL THEN
      PERFORM eventstream.commit(name, last);
    END IF;
    COMMIT;
  END LOOP;
END $$;
SQL
echo "INSERT INTO src (payload) VALUES ('live');" > "$work/insert.sql"
case " $LATENCY " in *:busy*) es_as_pg pgbench -h "$work" -p "$port" -i -s 10 -q postgres >/dev/null 2>&1 ;; esac
printf '%-34s %10s %10s %10s\n' "rate/s, synchronous_commit, load" events "p50 ms" "p99 ms"
n=0
for c in $LATENCY; do
	IFS=: read -r rate commit busy <<< "$c"
	n=$((n + 1))
	name="lat$n"
	psql_b -c "SELECT eventstream.create_consumer('$name', 'src', start_at => 'latest')" >/dev/null
	busy_pid=
	if [ "$busy" = busy ]; then
		es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -T $((DURATION + 3)) postgres >/dev/null 2>&1 &
		busy_pid=$!
	fi
	psql_b -c "CALL measure('$name', $((DURATION + 2)))" &
	consumer=$!
	sleep 1
	es_as_pg env PGOPTIONS="-c synchronous_commit=$commit" \
		pgbench -h "$work" -p "$port" -n -c 2 -j 2 -R "$rate" -T "$DURATION" -f "$work/insert.sql" postgres >/dev/null 2>&1
	wait $consumer
	[ -n "$busy_pid" ] && wait "$busy_pid"
	psql_b -F ' ' -c "SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
	                          round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
	                   FROM latency WHERE name = '$name'" |
		awk -v r="$rate, $commit${busy:+, $busy}" '{ printf "%-34s %10d %10s %10s\n", r, $1, $2, $3 }'
done
