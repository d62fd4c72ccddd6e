#!/usr/bin/env bash
# test/bench/kafka.sh - the Kafka sink against librdkafka's mock cluster
# (test/kafka_mock.c, 3 brokers), with an anchor run side by side: kcat
# producing the same number of messages of the same size from a file (a
# bare librdkafka producer on this machine and this mock, with nothing
# read from PostgreSQL).
#
#   backlog		EVENTS events written while the sink is paused, then the
#				time until its position reaches the last one: events/s,
#				and the ratio to kcat's messages/s
#	latency		RATE events/s for SECONDS seconds, live: commit time to
#				the message's CreateTime (the produce call; the mock is
#				local, so the broker's acknowledgment adds little),
#				p50/p99 from the messages read back
#	memory		the sink worker's private memory (RssAnon: not the shared
#				buffers it reads) before and after draining the
#				backlog (MEMORY_EVENTS events)
#
# The mock keeps at most 100,000 messages or 5 MiB per partition and drops
# the oldest: the backlog topics have enough partitions for what is read
# back, and throughput does not depend on it.
#
#   bash test/bench/kafka.sh     (env EVENTS=200000 RATE=5000 SECONDS_LIVE=10
#                                 MEMORY_EVENTS=1000000)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-200000}
RATE=${RATE:-5000}
SECONDS_LIVE=${SECONDS_LIVE:-10}
MEMORY_EVENTS=${MEMORY_EVENTS:-1000000}

es_base_packages
es_install_packages bc
es_build_install

bench_cluster "${BENCH_PORT:-55437}" "synchronous_commit = off" "shared_buffers = 512MB"
cc -O2 -o "$work/kafka_mock" "$ES_ROOT/test/kafka_mock.c" -lrdkafka
mkfifo "$work/mock.in"
"$work/kafka_mock" 3 < "$work/mock.in" > "$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
exec 7> "$work/mock.in"
trap 'kill $mock_pid 2>/dev/null; es_as_pg pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true' EXIT
until grep -q '^bootstrap' "$work/mock.out"; do sleep 0.1; done
brokers=$(awk '/^bootstrap/ {print $2}' "$work/mock.out")
topic() { echo "topic $1 $2" >&7; sleep 0.2; }

psql_b <<SQL
CREATE EXTENSION pg_eventstream;
CREATE TABLE kb (id bigint PRIMARY KEY, payload text);
SELECT eventstream.create_stream('kb', '{public.kb}');
SQL

# drain N TOPIC PARTITIONS: seconds for a paused sink to deliver N new events
drain() {
	local n=$1 t=$2 parts=$3 last t0
	topic "$t" "$parts"
	psql_b -c "SELECT eventstream.create_sink('$t', 'kb', 'kafka', '{\"brokers\": \"$brokers\",
	  \"topic\": \"$t\", \"config\": {\"linger.ms\": 5}}')" >/dev/null
	psql_b -c "SELECT eventstream.pause_sink('$t')" >/dev/null
	psql_b -c "INSERT INTO kb SELECT g, repeat('x', 100) FROM generate_series(
	  (SELECT coalesce(max(id), 0) + 1 FROM kb), (SELECT coalesce(max(id), 0) + $n FROM kb)) g" >/dev/null
	psql_b -c "SELECT eventstream.sync('30 min')" >/dev/null
	last=$(psql_b -c "SELECT max(id) FROM eventstream.read('kb', 0, 100000000)")
	sleep 1
	rss_before=$(sink_worker_private_kb)
	resume_and_time "$t" "$last"
	rss_after=$(sink_worker_private_kb)
	echo "$rss_before $rss_after" > "$work/rss"
	psql_b -c "SELECT eventstream.drop_sink('$t')" >/dev/null
}

echo "== backlog: $EVENTS events (100-byte payload), json, to the mock cluster (3 brokers, 16 partitions)"
t=$(drain "$EVENTS" backlog 16)
rate=$(echo "$EVENTS / $t" | bc -l)
# the anchor: kcat producing as many messages of the same size
psql_b -c "SELECT pg_catalog.row_to_json(e)::text FROM eventstream.read('kb', 0, 1) e" > "$work/one.json"
awk -v n="$EVENTS" '{for (i = 0; i < n; i++) print}' "$work/one.json" > "$work/anchor.json"
topic anchor 16
t0=$(now)
kcat -b "$brokers" -P -t anchor -X linger.ms=5 -X enable.idempotence=true -l "$work/anchor.json"
ta=$(echo "$(now) - $t0" | bc -l)
arate=$(echo "$EVENTS / $ta" | bc -l)
printf '%-40s %10s %12s %10s\n' "" "seconds" "events/s" "ratio"
printf '%-40s %10.2f %12.0f %10s\n' "kcat -P from a file (anchor)" "$ta" "$arate" "1.00x"
printf '%-40s %10.2f %12.0f %9.2fx\n' "Kafka sink, backlog drain" "$t" "$rate" "$(echo "$rate / $arate" | bc -l)"

echo "== live: $RATE events/s for $SECONDS_LIVE s, commit -> message CreateTime"
topic live 4
psql_b -c "SELECT eventstream.create_sink('live', 'kb', 'kafka', '{\"brokers\": \"$brokers\",
  \"topic\": \"live\", \"config\": {\"linger.ms\": 1}}')" >/dev/null
sleep 2
cat > "$work/live.sql" <<'SQL'
\set id random(1, 1000000000)
INSERT INTO kb VALUES (:id + 100000000000, 'live') ON CONFLICT (id) DO NOTHING;
SQL
chmod 644 "$work/live.sql"
es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -R "$RATE" -T "$SECONDS_LIVE" -f "$work/live.sql" postgres >/dev/null 2>&1
psql_b -c "SELECT eventstream.sync()" >/dev/null
sleep 2
kcat -b "$brokers" -C -t live -e -q -f '%T %s\n' 2>/dev/null |
	python3 -c '
import sys, json, datetime
lat = []
for line in sys.stdin:
    ts, doc = line.split(" ", 1)
    ct = datetime.datetime.fromisoformat(json.loads(doc)["commit_time"].replace("Z", "+00:00"))
    lat.append(int(ts) - ct.timestamp() * 1000)
lat.sort()
if lat:
    print("%-40s %10d" % ("messages", len(lat)))
    print("%-40s %10.1f ms" % ("p50", lat[len(lat) // 2]))
    print("%-40s %10.1f ms" % ("p99", lat[int(len(lat) * 0.99)]))
'
psql_b -c "SELECT eventstream.drop_sink('live')" >/dev/null

echo "== memory: the sink worker draining $MEMORY_EVENTS events"
t=$(drain "$MEMORY_EVENTS" memory 64)
read -r before after < "$work/rss"
printf '%-40s %10s kB\n' "sink worker private memory before" "$before"
printf '%-40s %10s kB  (%.0f events/s)\n' "sink worker private memory after" "$after" "$(echo "$MEMORY_EVENTS / $t" | bc -l)"
