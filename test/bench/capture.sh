#!/usr/bin/env bash
# test/bench/capture.sh - the capture worker against its anchors, same run.
#
# Part 1, capture throughput: one workload (default 500k inserts, 125k
# updates, 50k deletes in transactions of 10k rows on a table of mixed
# types) is written while capture is paused (eventstream.enabled = off);
# then capture resumes and the time until sync() returns is the worker's
# time to decode and append it all.  The anchor is wal2json format 2
# decoding the same WAL through pg_logical_slot_peek_changes, which only
# decodes and formats: the ratio says what appending to the log costs on
# top of decoding.
#
# Part 2, writers: pgbench TPS (scale 10, 2 clients, synchronous_commit =
# off so the machine's CPU, not fsync, is the limit) with no capture, with
# all four pgbench tables in a stream, and with an AFTER ROW trigger that
# inserts to_jsonb(NEW) into a capture table -- the three interleaved,
# ROUNDS times each, medians printed.  During the stream runs the worker's
# lag (bytes and seconds, from eventstream.status) is sampled every 0.5 s.
#
# Part 3, WAL per change: the workload of part 1 (env WAL_ROWS inserts
# and the same proportions of updates and deletes) written with nothing
# capturing it, with the table in a stream (until the worker has appended
# it all), and with the trigger of part 2; each after a checkpoint.  The
# WAL of each, per change, and what capture and the trigger add to the
# source's own.
#
# Part 4, streams over one table: the part 3 workload written while
# capture is paused, then captured into STREAMS streams that all take the
# table (1, then 10); the time until sync() returns and the WAL capture
# added per change, each against one stream.  Each stream keeps its own
# copy of every event today, so both grow with the streams.
#
#   bash test/bench/capture.sh       (env ROWS=500000 DURATION=20 ROUNDS=3
#                                     WAL_ROWS=100000 STREAMS="1 10"
#                                     SECTIONS="1 2 3 4")
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-500000}
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-3}
UPDATES=$((ROWS / 4))
DELETES=$((ROWS / 10))
WAL_ROWS=${WAL_ROWS:-100000}
STREAMS=${STREAMS:-1 10}
SECTIONS=${SECTIONS:-1 2 3 4}
section() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

es_base_packages
es_install_packages "postgresql-$ES_PG_MAJOR-wal2json" bc
es_build_install

bench_cluster "${BENCH_PORT:-55433}" \
	"logical_decoding_work_mem = 256MB" \
	"shared_buffers = 512MB" \
	"max_wal_size = 8GB" \
	"synchronous_commit = off" \
	"autovacuum = off"

psql_b <<'SQL'
CREATE EXTENSION pg_eventstream;
CREATE TABLE bench(id bigint PRIMARY KEY, qty int, price numeric(12,2), name text,
                   created timestamptz, active bool, attrs jsonb, score float8);
CREATE TABLE trigger_capture (id bigserial PRIMARY KEY, tbl text, op text, row jsonb,
                              at timestamptz DEFAULT now());
CREATE FUNCTION capture_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO trigger_capture (tbl, op, row)
    VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END));
  RETURN NULL;
END $$;
SQL

if section 1; then
echo "== part 1: capture throughput ($ROWS inserts, $UPDATES updates, $DELETES deletes)"
psql_b <<SQL
SELECT eventstream.create_stream('bench', '{bench}');
SELECT 'init' FROM pg_create_logical_replication_slot('s_w2j', 'wal2json');
ALTER SYSTEM SET eventstream.enabled = off;
SELECT pg_reload_conf();
SQL
psql_b -c "SELECT pg_sleep(0.5)" >/dev/null
psql_b -v rows="$ROWS" -v updates="$UPDATES" -v deletes="$DELETES" \
	-f "$ES_ROOT/test/bench/workload.sql" >/dev/null
changes=$((ROWS + UPDATES + DELETES))

t0=$(now)
n_w2j=$(psql_b -c "SELECT count(*) FROM pg_logical_slot_peek_changes('s_w2j', NULL, NULL, 'format-version', '2')")
t_w2j=$(echo "$(now) - $t0" | bc -l)

t0=$(now)
psql_b -c "ALTER SYSTEM SET eventstream.enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
psql_b -c "SELECT eventstream.sync('30 min')" >/dev/null
t_es=$(echo "$(now) - $t0" | bc -l)
n_es=$(psql_b -c "SELECT last_id FROM eventstream.streams WHERE name = 'bench'")
[ "$n_es" -eq "$changes" ] || { echo "stream has $n_es events, expected $changes" >&2; exit 1; }
psql_b -c "SELECT pg_drop_replication_slot('s_w2j')" >/dev/null

printf '%-48s %9s %12s %9s\n' "" seconds "changes/s" "vs w2j"
rate_row "worker: decode + append to the log" "$t_es" "$changes" "$t_w2j"
rate_row "wal2json format 2, decode only (anchor)" "$t_w2j" "$changes" "$t_w2j"
echo "(wal2json rows: $n_w2j)"
psql_b -c "SELECT eventstream.drop_stream('bench')" -c "TRUNCATE bench" >/dev/null
fi

if section 3; then
w_updates=$((WAL_ROWS / 4))
w_deletes=$((WAL_ROWS / 10))
w_changes=$((WAL_ROWS + w_updates + w_deletes))
echo "== part 3: WAL per change ($WAL_ROWS inserts, $w_updates updates, $w_deletes deletes)"
declare -A wal
for s in none stream trigger; do
	psql_b -c "TRUNCATE bench" >/dev/null
	case $s in
	stream) psql_b -c "SELECT eventstream.create_stream('bench_wal', '{bench}')" >/dev/null ;;
	trigger) psql_b -c "CREATE TRIGGER cap AFTER INSERT OR UPDATE OR DELETE ON bench FOR EACH ROW EXECUTE FUNCTION capture_row()" ;;
	esac
	psql_b -c "CHECKPOINT" >/dev/null
	lsn0=$(psql_b -c "SELECT pg_current_wal_insert_lsn()")
	psql_b -v rows="$WAL_ROWS" -v updates="$w_updates" -v deletes="$w_deletes" \
		-f "$ES_ROOT/test/bench/workload.sql" >/dev/null
	[ $s = stream ] && psql_b -c "SELECT eventstream.sync('30 min')" >/dev/null
	wal[$s]=$(psql_b -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0')")
	case $s in
	stream) psql_b -c "SELECT eventstream.drop_stream('bench_wal')" >/dev/null ;;
	trigger) psql_b -c "DROP TRIGGER cap ON bench" -c "TRUNCATE trigger_capture" >/dev/null ;;
	esac
done
src=$(echo "${wal[none]} / $w_changes" | bc -l)
cap=$(echo "(${wal[stream]} - ${wal[none]}) / $w_changes" | bc -l)
trg=$(echo "(${wal[trigger]} - ${wal[none]}) / $w_changes" | bc -l)
printf '%-48s %12s %10s\n' "" "bytes/change" "vs trigger"
printf '%-48s %12.0f %10s\n' "the source change itself (no capture)" "$src" ""
printf '%-48s %12.0f %9.2fx\n' "added by the stream (decoded, appended to the log)" "$cap" "$(echo "$cap / $trg" | bc -l)"
printf '%-48s %12.0f %9.2fx\n' "added by an AFTER ROW to_jsonb trigger (anchor)" "$trg" 1
fi

if section 4; then
w_updates=$((WAL_ROWS / 4))
w_deletes=$((WAL_ROWS / 10))
w_changes=$((WAL_ROWS + w_updates + w_deletes))
echo "== part 4: streams over one table ($w_changes changes)"
printf '%-10s %10s %12s %16s %10s %10s\n' streams seconds "changes/s" "WAL B/change" "time vs 1" "WAL vs 1"
t1=; b1=
for n in $STREAMS; do
	psql_b -c "TRUNCATE bench" >/dev/null
	psql_b -c "SELECT count(eventstream.create_stream('many_' || g, '{bench}')) FROM generate_series(1, $n) g" >/dev/null
	psql_b -c "SELECT eventstream.sync('30 min')" -c "ALTER SYSTEM SET eventstream.enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
	psql_b -c "SELECT pg_sleep(0.5)" >/dev/null
	psql_b -v rows="$WAL_ROWS" -v updates="$w_updates" -v deletes="$w_deletes" \
		-f "$ES_ROOT/test/bench/workload.sql" >/dev/null
	lsn0=$(psql_b -c "SELECT pg_current_wal_insert_lsn()")
	t0=$(now)
	psql_b -c "ALTER SYSTEM SET eventstream.enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
	psql_b -c "SELECT eventstream.sync('30 min')" >/dev/null
	t=$(echo "$(now) - $t0" | bc -l)
	b=$(psql_b -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0') / $w_changes")
	got=$(psql_b -c "SELECT sum(last_id) FROM eventstream.streams WHERE name LIKE 'many\_%'")
	[ "$got" -eq $((n * w_changes)) ] || { echo "streams have $got events, expected $((n * w_changes))" >&2; exit 1; }
	[ -z "$t1" ] && { t1=$t; b1=$b; }
	printf '%-10s %10.2f %12.0f %16.0f %9.2fx %9.2fx\n' "$n" "$t" "$(echo "$w_changes / $t" | bc -l)" "$b" \
		"$(echo "$t / $t1" | bc -l)" "$(echo "$b / $b1" | bc -l)"
	psql_b -c "SELECT count(eventstream.drop_stream('many_' || g)) FROM generate_series(1, $n) g" >/dev/null
done
fi

section 2 || exit 0

echo "== part 2: pgbench writers, $ROUNDS x ${DURATION}s per setup, 2 clients"
es_as_pg pgbench -h "$work" -p "$port" -i -s 10 -q postgres >/dev/null 2>&1
tables="pgbench_accounts pgbench_branches pgbench_tellers pgbench_history"

setup() {
	case $1 in
	none) ;;
	stream) psql_b -c "SELECT eventstream.create_stream('pgbench', '{pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history}')" >/dev/null ;;
	trigger) for t in $tables; do
			psql_b -c "CREATE TRIGGER cap AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION capture_row()"
		done ;;
	esac
}
teardown() {
	case $1 in
	stream) psql_b -c "SELECT eventstream.drop_stream('pgbench')" >/dev/null ;;
	trigger) for t in $tables; do psql_b -c "DROP TRIGGER cap ON $t"; done
		psql_b -c "TRUNCATE trigger_capture" ;;
	esac
	psql_b -c "CHECKPOINT" >/dev/null
}

declare -A tps
lagfile=$work/lag.txt
: > "$lagfile"
for round in $(seq 1 "$ROUNDS"); do
	for s in none stream trigger; do
		setup $s
		if [ $s = stream ]; then
			( while :; do
				psql_b -c "SELECT lag_bytes, CASE WHEN lag_bytes > 0 THEN lag_seconds ELSE 0 END FROM eventstream.status" 2>/dev/null >> "$lagfile" || true
				sleep 0.5
			  done ) &
			sampler=$!
		fi
		t=$(es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -T "$DURATION" postgres 2>/dev/null |
			awk -F' = ' '/^tps/ {print $2+0; exit}')
		if [ $s = stream ]; then
			kill $sampler; wait $sampler 2>/dev/null || true
			t0=$(now)
			psql_b -c "SELECT eventstream.sync('10 min')" >/dev/null
			drain=$(echo "$(now) - $t0" | bc -l)
			echo "round $round  stream: after the run the worker needed $(printf '%.2f' "$drain") s to catch up"
		fi
		echo "round $round  $(printf '%-8s' $s) $t tps"
		tps[$s]="${tps[$s]:-} $t"
		teardown $s
	done
done

base=$(echo "${tps[none]}" | median)
echo
printf '%-44s %10s %12s\n' setup "median tps" "vs none"
for s in none stream trigger; do
	ratio_row "$s" "${tps[$s]}" "$base"
done
awk -F'|' 'NF == 2 { n++; b += $1; s += $2; if ($1 > mb) mb = $1; if ($2 > ms) ms = $2 }
	END { if (n) printf "worker lag during the stream runs: mean %.0f kB / %.2f s, max %.0f kB / %.2f s (%d samples)\n",
		b / n / 1024, s / n, mb / 1024, ms, n }' "$lagfile"
