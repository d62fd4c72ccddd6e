#!/usr/bin/env bash
# test/bench/decode.sh - decode throughput of pg_eventstream against the
# anchors, on the same WAL, in the same run.
#
# A throwaway cluster gets one table of mixed types and a template slot per
# plugin; then one workload (default 1M inserts, 250k updates, 100k
# deletes, in transactions of 10k rows) is written once.  Each decoder then
# decodes that same WAL several times, the runs interleaved round-robin so
# machine noise hits all decoders alike, and the event counts are checked
# to agree across runs.  It prints the median time per decoder and the ratio
# of each decoder's throughput to wal2json format-version 2's.
#
# MODE=sql (default): pg_logical_slot_peek_changes, which decodes without
# consuming, at default settings (its result spills to a temporary file as
# for any SQL consumer).  MODE=walsender: a copy of the slot
# (pg_copy_logical_replication_slot) streamed to its end by pg_recvlogical,
# as a replication client would; on machines where system calls are dear
# the walsender's per-record socket work dominates that mode for every
# plugin alike.
#
# "decode only" is pgoutput with a publication of no tables: it reads and
# reorders the same WAL but writes nothing per change.  Every decoder pays
# that much; the rest is the plugin's own work, compared in the last column.
#
#   bash test/bench/decode.sh [runs]     (env ROWS=1000000, MODE=sql|walsender)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

RUNS=${1:-5}
MODE=${MODE:-sql}
ROWS=${ROWS:-1000000}
UPDATES=$((ROWS / 4))
DELETES=$((ROWS / 10))

es_base_packages
es_install_packages "postgresql-$ES_PG_MAJOR-wal2json"
es_build_install

bench_cluster "${BENCH_PORT:-55432}" \
	"logical_decoding_work_mem = 256MB" \
	"max_replication_slots = 20" \
	"shared_buffers = 512MB" \
	"max_wal_size = 8GB" \
	"synchronous_commit = off" \
	"autovacuum = off"

psql_b <<SQL
CREATE TABLE bench(id bigint PRIMARY KEY, qty int, price numeric(12,2), name text,
                   created timestamptz, active bool, attrs jsonb, score float8);
CREATE PUBLICATION bench_pub FOR TABLE bench;
CREATE PUBLICATION empty_pub;
SELECT 'init' FROM pg_create_logical_replication_slot('s_es', 'pg_eventstream');
SELECT 'init' FROM pg_create_logical_replication_slot('s_w2j', 'wal2json');
SELECT 'init' FROM pg_create_logical_replication_slot('s_td', 'test_decoding');
SELECT 'init' FROM pg_create_logical_replication_slot('s_pgo', 'pgoutput');
SELECT 'init' FROM pg_create_logical_replication_slot('s_none', 'pgoutput');
SQL

echo "writing the workload: $ROWS inserts, $UPDATES updates, $DELETES deletes"
psql_b -v rows="$ROWS" -v updates="$UPDATES" -v deletes="$DELETES" \
	-f "$ES_ROOT/test/bench/workload.sql" >/dev/null
end_lsn=$(psql_b -At -c "SELECT pg_current_wal_flush_lsn()")

# name | template slot | options (pg_recvlogical -o form) | text output
decoders=(
	"pg_eventstream json|s_es||yes"
	"pg_eventstream debezium|s_es|format=debezium|yes"
	"pg_eventstream cloudevents|s_es|format=cloudevents|yes"
	"wal2json format 2|s_w2j|format-version=2|yes"
	"test_decoding|s_td||yes"
	"pgoutput (binary)|s_pgo|proto_version=1 publication_names=bench_pub|no"
	"decode only|s_none|proto_version=1 publication_names=empty_pub|no"
)

# decode_once SLOT OPTIONS TEXT: decode the whole WAL once, print the count
decode_once() {
	local slot=$1 opts=$2 text=$3 sqlopts="" o fn
	if [ "$MODE" = walsender ]; then
		local args=()
		for o in $opts; do args+=(-o "$o"); done
		psql_b -At -c "SELECT 'copy' FROM pg_copy_logical_replication_slot('$slot', 'run')" >/dev/null
		es_as_pg pg_recvlogical -h "$work" -p "$port" -d postgres -S run --start \
			--endpos="$end_lsn" --no-loop -f - "${args[@]}" | wc -l
		psql_b -At -c "SELECT pg_drop_replication_slot('run')" >/dev/null
	else
		for o in $opts; do sqlopts+=", '${o%%=*}', '${o#*=}'"; done
		fn=pg_logical_slot_peek_changes
		[ "$text" = yes ] || fn=pg_logical_slot_peek_binary_changes
		psql_b -At -c "SELECT count(*) FROM $fn('$slot', '$end_lsn', NULL$sqlopts)"
	fi
}

declare -A times rows
for ((run = 1; run <= RUNS; run++)); do
	for d in "${decoders[@]}"; do
		IFS='|' read -r name slot opts text <<<"$d"
		start=$(date +%s.%N)
		n=$(decode_once "$slot" "$opts" "$text")
		end=$(date +%s.%N)
		[ "$text" = yes ] || [ "$MODE" = sql ] || n="-"
		t=$(echo "$end - $start" | bc -l)
		times[$name]="${times[$name]:-} $t"
		rows[$name]="${rows[$name]:-} $n"
		echo "run $run  $(printf '%-28s' "$name") $(printf '%8.3f' "$t") s  ($n events)"
	done
done

for d in "${decoders[@]}"; do
	IFS='|' read -r name _ <<<"$d"
	if [ "$(echo "${rows[$name]}" | tr ' ' '\n' | grep -v '^$' | sort -u | wc -l)" -ne 1 ]; then
		echo "ERROR: $name returned different row counts across runs:${rows[$name]}" >&2
		exit 1
	fi
done

changes=$((ROWS + UPDATES + DELETES))
base=$(echo "${times[wal2json format 2]}" | median)
floor=$(echo "${times[decode only]}" | median)
echo
echo "decoding $changes changes ($MODE mode; $ROWS inserts, $UPDATES updates, $DELETES deletes), median of $RUNS runs"
printf '%-28s %9s %12s %14s %16s\n' decoder "median s" "changes/s" "vs wal2json 2" "plugin work vs"
printf '%-28s %9s %12s %14s %16s\n' "" "" "" "(end to end)" "wal2json 2"
for d in "${decoders[@]}"; do
	IFS='|' read -r name _ <<<"$d"
	m=$(echo "${times[$name]}" | median)
	own=$(echo "$m - $floor" | bc -l)
	if [ "$name" = "decode only" ] || [ "$(echo "$own <= 0" | bc -l)" = 1 ]; then
		plugin_ratio="-"
	else
		plugin_ratio=$(printf '%.2fx' "$(echo "($base - $floor) / $own" | bc -l)")
	fi
	printf '%-28s %9.3f %12.0f %13.2fx %16s\n' "$name" "$m" \
		"$(echo "$changes / $m" | bc -l)" "$(echo "$base / $m" | bc -l)" "$plugin_ratio"
done
