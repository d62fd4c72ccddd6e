#!/usr/bin/env bash
# test/bench/webhook.sh - webhook sink throughput against a local C
# keep-alive receiver (test/bench/receiver.c), and writers with a sink
# draining vs none.
#
# A backlog of EVENTS events is written while the sink is paused; then the
# sink is resumed and the time until its position reaches the last event
# is measured, unbatched (batch_size 1) and batched (batch_size 100), with
# concurrency 8.  The anchor is pg_net's published ~240 requests/s (a
# figure, not measured here: pg_net is not built by this script).  Then
# the latency, commit to 2xx, at RATE events/s for DURATION seconds (the
# worker's own p50/p99 of its last 1,000 deliveries, eventstream.sinks);
# the sink worker's private memory (RssAnon) before and after draining a
# MEMORY_EVENTS backlog; and pgbench runs DURATION seconds against a table
# in a stream with a sink draining it, and without the sink, interleaved;
# the TPS ratio is printed.
#
#   bash test/bench/webhook.sh   (env EVENTS=50000 DURATION=10 RATE=1000
#                                 MEMORY_EVENTS=1000000)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-50000}
DURATION=${DURATION:-10}
RATE=${RATE:-1000}
MEMORY_EVENTS=${MEMORY_EVENTS:-1000000}
PG_NET_PUBLISHED=240

es_base_packages
es_install_packages bc
es_build_install

bench_cluster "${BENCH_PORT:-55436}" "synchronous_commit = off" "shared_buffers = 512MB"
cc -O2 -o "$work/receiver" "$ES_ROOT/test/bench/receiver.c"
rport=$((port + 1))
"$work/receiver" "$rport" > "$work/receiver.out" &
receiver_pid=$!
trap 'kill $receiver_pid 2>/dev/null; es_as_pg pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true' EXIT

psql_b <<SQL
CREATE EXTENSION pg_eventstream;
CREATE TABLE hook_src (id int PRIMARY KEY, payload text);
SELECT eventstream.create_stream('hooks', '{public.hook_src}');
SQL

# deliver_backlog BATCH: seconds to deliver EVENTS events written while paused
deliver_backlog() {
	local batch=$1 last t0
	psql_b -c "SELECT eventstream.create_sink('s$batch', 'hooks', 'webhook',
	  '{\"url\": \"http://127.0.0.1:$rport/\", \"batch_size\": $batch, \"concurrency\": 8,
	    \"secret\": \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}')" >/dev/null
	psql_b -c "SELECT eventstream.pause_sink('s$batch')" >/dev/null
	psql_b -c "INSERT INTO hook_src SELECT g, repeat('x', 100) FROM generate_series(
	  (SELECT coalesce(max(id), 0) + 1 FROM hook_src), (SELECT coalesce(max(id), 0) + $EVENTS FROM hook_src)) g" >/dev/null
	psql_b -c "SELECT eventstream.sync()" >/dev/null
	last=$(psql_b -c "SELECT max(id) FROM eventstream.read('hooks', 0, 100000000)")
	resume_and_time "s$batch" "$last"
	psql_b -c "SELECT eventstream.drop_sink('s$batch')" >/dev/null
}

echo "== webhook delivery: $EVENTS events, concurrency 8, signed, to a C keep-alive receiver"
printf '%-34s %10s %12s %14s\n' "" "seconds" "events/s" "vs pg_net 240/s"
for batch in 1 100; do
	t=$(deliver_backlog "$batch")
	rate=$(echo "$EVENTS / $t" | bc -l)
	printf '%-34s %10.2f %12.0f %13.1fx\n' "sink, batch_size $batch" "$t" "$rate" \
		"$(echo "$rate / $PG_NET_PUBLISHED" | bc -l)"
done

echo "== latency: $RATE events/s for $DURATION s, batch_size 1, commit -> 2xx (the worker's p50/p99)"
psql_b -c "SELECT eventstream.create_sink('live', 'hooks', 'webhook', '{\"url\": \"http://127.0.0.1:$rport/\", \"concurrency\": 8}')" >/dev/null
sleep 2
cat > "$work/live.sql" <<'SQL'
\set id random(1, 1000000000)
INSERT INTO hook_src VALUES (:id + 1000000000, 'live') ON CONFLICT (id) DO NOTHING;
SQL
chmod 644 "$work/live.sql"
es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -R "$RATE" -T "$DURATION" -f "$work/live.sql" postgres >/dev/null 2>&1
sleep 3
psql_b -c "SELECT 'p50 ' || round(extract(epoch FROM latency_p50) * 1000, 1) || ' ms, p99 '
  || round(extract(epoch FROM latency_p99) * 1000, 1) || ' ms' FROM eventstream.sinks WHERE name = 'live'"
psql_b -c "SELECT eventstream.drop_sink('live')" >/dev/null

echo "== memory: the sink worker draining $MEMORY_EVENTS events, batch_size 100"
psql_b -c "SELECT eventstream.create_sink('mem', 'hooks', 'webhook', '{\"url\": \"http://127.0.0.1:$rport/\", \"batch_size\": 100, \"concurrency\": 8}')" >/dev/null
psql_b -c "SELECT eventstream.pause_sink('mem')" >/dev/null
psql_b -c "INSERT INTO hook_src SELECT g, repeat('x', 100) FROM generate_series(
  (SELECT coalesce(max(id), 0) + 1 FROM hook_src WHERE id < 1000000000),
  (SELECT coalesce(max(id), 0) + $MEMORY_EVENTS FROM hook_src WHERE id < 1000000000)) g" >/dev/null
psql_b -c "SELECT eventstream.sync('30 min')" >/dev/null
last=$(psql_b -c "SELECT max(id) FROM eventstream.read('hooks', 0, 100000000)")
sleep 1
before=$(sink_worker_private_kb)
t=$(resume_and_time mem "$last")
after=$(sink_worker_private_kb)
printf '%-34s %10s kB\n' "sink worker private memory before" "$before"
printf '%-34s %10s kB  (%.0f events/s)\n' "sink worker private memory after" "$after" "$(echo "$MEMORY_EVENTS / $t" | bc -l)"
psql_b -c "SELECT eventstream.drop_sink('mem')" >/dev/null

echo "== writers: pgbench $DURATION s, 2 clients, with a sink draining vs none"
cat > "$work/write.sql" <<'SQL'
\set id random(1, 100000000)
INSERT INTO hook_src VALUES (:id, 'w') ON CONFLICT (id) DO UPDATE SET payload = 'u';
SQL
chmod 644 "$work/write.sql"
tps() { es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -T "$DURATION" -f "$work/write.sql" postgres 2>/dev/null |
	sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
none=$(tps)
psql_b -c "SELECT eventstream.create_sink('w', 'hooks', 'webhook', '{\"url\": \"http://127.0.0.1:$rport/\", \"batch_size\": 100, \"concurrency\": 8}')" >/dev/null
with=$(tps)
psql_b -c "SELECT eventstream.drop_sink('w')" >/dev/null
none2=$(tps)
base=$(echo "($none + $none2) / 2" | bc -l)
printf '%-34s %10.0f tps\n' "no sink (mean of two runs)" "$base"
printf '%-34s %10.0f tps %8.2fx\n' "a sink draining" "$with" "$(echo "$with / $base" | bc -l)"
