#!/usr/bin/env bash
# test/bench/disk.sh - does the disk stay flat under a long steady load?
#
# pgbench (scale 10, 2 clients, at RATE transactions/s) writes for
# DURATION seconds into tables that one stream captures with a retention of
# RETENTION; segments hold SEGMENT events, so retention has whole segments
# to drop.  Every SAMPLE seconds the script records the log's size on disk
# (all segments, indexes and TOAST included), its segment count, the WAL
# the capture slot retains, and the size of pg_wal.  At the end it prints
# the samples as CSV (also written to $OUT), a text plot of the log's size
# and retained WAL over time, and the ratios that say "flat": the largest
# value of the last third of the run over the largest of the middle third
# (a log that grows without bound gives about 1.5x or more; a flat one
# about 1.0x).
#
#   bash test/bench/disk.sh     (env DURATION=1800 RATE=300 RETENTION='1 minute'
#                                SEGMENT=20000 SAMPLE=30 OUT=/tmp/disk.csv)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-1800}
RATE=${RATE:-300}
RETENTION=${RETENTION:-1 minute}
SEGMENT=${SEGMENT:-20000}
SAMPLE=${SAMPLE:-30}
OUT=${OUT:-/tmp/pg_eventstream-disk.csv}

es_base_packages
es_build_install
bench_cluster 5497 "synchronous_commit = off" "eventstream.retention_interval = 5s"

es_as_pg pgbench -h "$work" -p "$port" -i -s 10 -q postgres >/dev/null 2>&1
psql_b <<SQL
CREATE EXTENSION pg_eventstream;
SET eventstream.segment_size = $SEGMENT;
SELECT eventstream.create_stream('bank', '{public.pgbench_*}', retention => '$RETENTION');
SQL

sample() {
	psql_b -F, -c "
		SELECT $1,
			   (SELECT coalesce(sum(pg_total_relation_size(g.rel)), 0) FROM eventstream._segments() g),
			   (SELECT count(*) FROM eventstream._segments()),
			   (SELECT coalesce(max(last_id), 0) FROM eventstream.streams),
			   (SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint
				FROM pg_replication_slots WHERE slot_name LIKE 'eventstream_%'),
			   (SELECT sum(size) FROM pg_ls_waldir())"
}

echo "seconds,log_bytes,segments,last_id,slot_retained_bytes,pg_wal_bytes" > "$OUT"
es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -R "$RATE" -T "$DURATION" postgres \
	> "$work/pgbench.out" 2>&1 < /dev/null &
bench_pid=$!
t0=$(date +%s)
while kill -0 "$bench_pid" 2>/dev/null; do
	sample $(( $(date +%s) - t0 )) >> "$OUT"
	sleep "$SAMPLE"
done
wait "$bench_pid"
sample $(( $(date +%s) - t0 )) >> "$OUT"

echo "== samples ($OUT)"
cat "$OUT"
echo
echo "== log size (#) and WAL retained by the slot (o), MB, over time"
awk -F, 'NR > 1 { t[NR] = $1; l[NR] = $2 / 1048576; w[NR] = $5 / 1048576;
				  if (l[NR] > m) m = l[NR]; if (w[NR] > m) m = w[NR]; n = NR }
	END { if (m == 0) m = 1;
		  for (i = 2; i <= n; i++) {
			  bar = ""; lw = int(60 * l[i] / m); ww = int(60 * w[i] / m);
			  for (j = 0; j <= 60; j++) bar = bar (j == ww ? "o" : (j < lw ? "#" : " "));
			  printf "%6ds %8.1f MB %8.1f MB |%s\n", t[i], l[i], w[i], bar } }' "$OUT"
echo
grep -E "^(tps|number of transactions actually)" "$work/pgbench.out" || true
echo
echo "== flatness: max of the last third over max of the middle third (1.0x = flat)"
awk -F, 'NR > 1 { n++; t[n] = $1; l[n] = $2; w[n] = $5; p[n] = $6 }
	END { a = int(n / 3); b = int(2 * n / 3);
		  for (i = a + 1; i <= b; i++) { if (l[i] > ml) ml = l[i]; if (w[i] > mw) mw = w[i]; if (p[i] > mp) mp = p[i] }
		  for (i = b + 1; i <= n; i++) { if (l[i] > el) el = l[i]; if (w[i] > ew) ew = w[i]; if (p[i] > ep) ep = p[i] }
		  printf "%-34s %6.2fx (%.1f MB vs %.1f MB)\n", "event log size", el / (ml ? ml : 1), el / 1048576, ml / 1048576;
		  printf "%-34s %6.2fx (%.1f MB vs %.1f MB)\n", "WAL retained by the slot", ew / (mw ? mw : 1), ew / 1048576, mw / 1048576;
		  printf "%-34s %6.2fx (%.1f MB vs %.1f MB)\n", "pg_wal", ep / (mp ? mp : 1), ep / 1048576, mp / 1048576 }' "$OUT"
