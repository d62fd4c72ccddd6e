#!/usr/bin/env bash
# test/bench/waiters.sh - what waiting pollers cost, and how fast they wake.
#
# For N in WAITERS (default 1 10 100 400): N sessions each poll a consumer
# of their own on a quiet stream with wait => 60 s.  Then
#   - idle cost: pgbench (2 clients, sync commit off) writes for DURATION
#     seconds into a table of another stream while the N wait; its TPS over
#     the TPS with nobody waiting (measured first, same run), and the CPU
#     seconds the N waiting backends used meanwhile (/proc);
#   - latency of a waiter of another stream: one more session waits on a
#     stream of its own ("lone") while the N wait; a row committed there,
#     and the time to the return of that one poll, against N = 1: a waiter
#     wakes for its stream only, so the N should not slow it;
#   - latency: once the worker has caught up with those writes, one row is
#     committed into the quiet stream; the time from its commit to the
#     return of the last of the N polls, and its ratio to the same with one
#     waiter (the anchor, N = 1).  Each of the N returns an event to its own
#     consumer, so this one grows with N.
#
#   bash test/bench/waiters.sh     (env WAITERS="1 10 100 400" DURATION=10)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

WAITERS=${WAITERS:-1 10 100 400}
DURATION=${DURATION:-10}
max=0
for n in $WAITERS; do [ "$n" -gt "$max" ] && max=$n; done

es_base_packages
es_build_install
bench_cluster 5496 "synchronous_commit = off" "max_connections = $((max + 50))"

es_as_pg pgbench -h "$work" -p "$port" -i -s 10 -q postgres >/dev/null 2>&1
psql_b <<SQL
CREATE EXTENSION pg_eventstream;
CREATE TABLE quiet (id int PRIMARY KEY);
SELECT eventstream.create_stream('quiet', '{public.quiet}');
CREATE TABLE lone (id int PRIMARY KEY);
SELECT eventstream.create_stream('lone', '{public.lone}');
SELECT eventstream.create_consumer('lone', 'lone', start_at => 'latest');
SELECT eventstream.create_stream('busy', '{public.pgbench_*}');
SELECT eventstream.create_consumer('w' || g, 'quiet', start_at => 'latest') FROM generate_series(1, $max) g;
SQL

tps() {
	es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -T "$DURATION" postgres 2>/dev/null |
		awk '/^tps/ {print $3; exit}'
}

# the CPU seconds (user + system) of the backends that wait in poll
waiter_cpu() {
	local pids total=0 p t
	pids=$(psql_b -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%eventstream.poll(''w%' AND pid <> pg_backend_pid()")
	for p in $pids; do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
		total=$((total + t))
	done
	echo "scale=2; $total / $(getconf CLK_TCK)" | bc
}

base_tps=$(tps)
id=0
printf '%-8s %12s %10s %14s %14s %10s %14s %10s\n' waiters "busy TPS" "vs none" "waiters CPU-s" \
	"other wake ms" "vs 1" "last wake ms" "vs 1"
anchor_ms=
lone_anchor=
for n in $WAITERS; do
	dir=$(mktemp -d "$work/w.XXXX")
	chmod 777 "$dir"
	for i in $(seq 1 "$n"); do
		# the time the poll returned, taken by the server in the same
		# statement: a second statement would add the 400 psql clients'
		# own scheduling (most of what an earlier version measured)
		es_as_pg psql -h "$work" -p "$port" -d postgres -X -q -At -c \
			"SELECT extract(epoch FROM clock_timestamp()) FROM (SELECT count(*) FROM eventstream.poll('w$i', 1, wait => '60 s')) p" \
			> "$dir/$i.out" 2>&1 </dev/null &
	done
	until [ "$(psql_b -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'Extension' AND query LIKE '%eventstream.poll(''w%'")" -ge "$n" ]; do
		sleep 0.1
	done
	cpu0=$(waiter_cpu)
	busy_tps=$(tps)
	cpu1=$(waiter_cpu)
	psql_b -c "SELECT eventstream.sync('120 s')" >/dev/null	# the busy backlog first
	id=$((id + 1))
	es_as_pg psql -h "$work" -p "$port" -d postgres -X -q -At -c \
		"SELECT extract(epoch FROM clock_timestamp()) FROM (SELECT count(*) FROM eventstream.poll('lone', 1, wait => '60 s')) p" \
		> "$dir/lone.poll" 2>&1 </dev/null &
	lone_pid=$!
	until [ "$(psql_b -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'Extension' AND query LIKE '%eventstream.poll(''lone''%'")" -ge 1 ]; do
		sleep 0.05
	done
	t0=$(psql_b -c "INSERT INTO lone VALUES ($id) RETURNING extract(epoch FROM clock_timestamp())")
	wait "$lone_pid"
	lone_ms=$(echo "($(tail -1 "$dir/lone.poll") - $t0) * 1000" | bc -l)
	[ -z "$lone_anchor" ] && lone_anchor=$lone_ms
	psql_b -c "SELECT eventstream.commit('lone', (SELECT max(id) FROM eventstream.read('lone', 0, 1000000)))" >/dev/null
	t0=$(psql_b -c "INSERT INTO quiet VALUES ($id) RETURNING extract(epoch FROM clock_timestamp())")
	wait
	last=$(for f in "$dir"/*.out; do tail -1 "$f"; done | sort -g | tail -1)
	ms=$(echo "($last - $t0) * 1000" | bc -l)
	[ -z "$anchor_ms" ] && anchor_ms=$ms
	printf '%-8s %12.0f %9.2fx %14.2f %14.1f %9.2fx %14.1f %9.2fx\n' "$n" "$busy_tps" \
		"$(echo "$busy_tps / $base_tps" | bc -l)" "$(echo "$cpu1 - $cpu0" | bc -l)" \
		"$lone_ms" "$(echo "$lone_ms / $lone_anchor" | bc -l)" \
		"$ms" "$(echo "$ms / $anchor_ms" | bc -l)"
	# the next round's waiters start after this event
	psql_b -c "SELECT count(eventstream.seek('w' || g, $id)) FROM generate_series(1, $max) g" >/dev/null
done
echo "busy TPS with nobody waiting: $base_tps (pgbench -c 2, ${DURATION} s, all four tables in a stream)"
