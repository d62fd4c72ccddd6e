#!/usr/bin/env bash
# test/bench/aggregate.sh - continuous aggregates against their anchors,
# same run.  The query: two keys, five aggregates.
#
#   SELECT region, date_bin('1 hour', ts, ...) AS hour, count(*), sum(amount),
#          avg(amount), min(qty), max(qty) FROM sales GROUP BY 1, 2
#
# Part 1, maintenance throughput: with capture paused, a workload of
# inserts, updates and deletes is written; capture resumes and the time
# until sync() returns is the time to decode it and apply it to the
# aggregate.  Anchor: wal2json format 2 decoding the same WAL.
#
# The table has an index on the grouping expressions, which min and max
# use to read a group again when its extreme is deleted.
#
# Part 2, cost proportional to the change: on a table of TABLE rows, a
# change of 1% and of 10% of the rows (updates of values and group keys,
# some deletes and inserts), brought up to date incrementally vs REFRESH
# MATERIALIZED VIEW of the same query, timed in the same run.
#
# Part 3, writers: pgbench inserting one row per transaction into the
# table with no aggregate, with the aggregate, and with trigger-based
# incremental maintenance (an AFTER INSERT ROW trigger upserting into a
# summary table), interleaved, ROUNDS times each, medians printed.
#
# Part 4, time series: TS_ROWS readings of 1,000 devices, one a minute,
# grouped by device and hour (count, sum, avg, min, max); then 1% more
# rows, all in the latest buckets, as readings arrive.  The time until
# the aggregate has them (decode included) vs REFRESH MATERIALIZED VIEW.
#
#   bash test/bench/aggregate.sh     (env ROWS=400000 TABLE=1000000 DURATION=15 ROUNDS=3
#                                     TS_ROWS=2000000 SECTIONS="1 2 3 4")
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-400000}
TABLE=${TABLE:-1000000}
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-3}
TS_ROWS=${TS_ROWS:-2000000}
SECTIONS=${SECTIONS:-1 2 3 4}
section() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

es_base_packages
es_install_packages "postgresql-$ES_PG_MAJOR-wal2json" bc
es_build_install

bench_cluster "${BENCH_PORT:-55434}" \
	"logical_decoding_work_mem = 256MB" \
	"shared_buffers = 512MB" \
	"work_mem = 64MB" \
	"max_wal_size = 8GB" \
	"synchronous_commit = off" \
	"autovacuum = off"

query="SELECT region, date_bin('1 hour', ts, timestamptz '2026-01-01') AS hour, count(*) AS n,
       sum(amount) AS revenue, avg(amount) AS avg_amount, min(qty) AS min_qty, max(qty) AS max_qty
FROM sales GROUP BY 1, 2"

psql_b <<SQL
CREATE EXTENSION pg_eventstream;
CREATE TABLE sales (id bigserial PRIMARY KEY, region int NOT NULL, ts timestamptz NOT NULL,
                    amount numeric(10,2), qty int);
ALTER TABLE sales REPLICA IDENTITY FULL;
-- min and max read a group again when its extreme goes: an index on the
-- grouping expressions makes that a lookup (see the README)
CREATE INDEX ON sales (region, date_bin('1 hour', ts, timestamptz '2026-01-01'));
SQL

# pause or resume the worker
capture() {
	psql_b -c "ALTER SYSTEM SET eventstream.enabled = $1" -c "SELECT pg_reload_conf()" >/dev/null
	psql_b -c "SELECT pg_sleep(0.5)" >/dev/null
}
# seconds from resuming the worker until it has applied everything written,
# timed inside the server (no client start-up in the number)
catch_up() {
	psql_b -c "ALTER SYSTEM SET eventstream.enabled = on"
	psql_b -c "WITH a AS MATERIALIZED (SELECT clock_timestamp() AS t0, pg_reload_conf()),
	                b AS MATERIALIZED (SELECT eventstream.sync('30 min') FROM a)
	           SELECT extract(epoch FROM clock_timestamp() - a.t0) FROM a, b"
}
# seconds a statement takes, timed inside the server
timed() {
	psql_b <<SQL | tail -1
SELECT clock_timestamp() AS t0 \gset
$1;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SQL
}
# rows of the view and the query that differ (must be 0)
differ() {
	psql_b -c "SELECT (SELECT count(*) FROM (($query) EXCEPT ALL SELECT * FROM sales_hourly) a)
	                + (SELECT count(*) FROM (SELECT * FROM sales_hourly EXCEPT ALL ($query)) b)"
}

if section 1; then
echo "== part 1: maintenance throughput"
psql_b -c "SELECT eventstream.create_aggregate('sales_hourly', \$\$$query\$\$)" >/dev/null
psql_b -c "SELECT 'init' FROM pg_create_logical_replication_slot('s_w2j', 'wal2json')" >/dev/null
capture off
psql_b <<SQL
INSERT INTO sales (region, ts, amount, qty)
SELECT g % 50, timestamptz '2026-01-01' + (g % 2000) * interval '1 minute', (g % 1000) / 10.0, g % 97
FROM generate_series(1, $ROWS) g;
UPDATE sales SET amount = amount + 1, qty = qty + 1 WHERE id % 4 = 0;
UPDATE sales SET region = region + 1 WHERE id % 10 = 1;
DELETE FROM sales WHERE id % 10 = 2;
SQL
changes=$(psql_b -c "SELECT $ROWS + $ROWS / 4 + 2 * ($ROWS / 10)")
t0=$(now)
psql_b -c "SELECT count(*) FROM pg_logical_slot_peek_changes('s_w2j', NULL, NULL, 'format-version', '2')" >/dev/null
t_w2j=$(echo "$(now) - $t0" | bc -l)
psql_b -c "SELECT pg_drop_replication_slot('s_w2j')" >/dev/null
t_agg=$(catch_up)
[ "$(differ)" = 0 ] || { echo "the aggregate differs from its query" >&2; exit 1; }
printf '%-48s %9s %12s %9s\n' "" seconds "changes/s" "vs w2j"
rate_row "worker: decode + maintain the aggregate" "$t_agg" "$changes" "$t_w2j"
rate_row "wal2json format 2, decode only (anchor)" "$t_w2j" "$changes" "$t_w2j"
echo "(groups: $(psql_b -c 'SELECT count(*) FROM sales_hourly'), changes: $changes)"
psql_b -c "SELECT eventstream.drop_aggregate('sales_hourly')" >/dev/null
fi

if section 2; then
echo "== part 2: a change of 1% and 10% of a $TABLE-row table"
psql_b <<SQL
TRUNCATE sales;
SELECT eventstream.create_aggregate('sales_hourly', \$\$$query\$\$);
INSERT INTO sales (region, ts, amount, qty)
SELECT g % 50, timestamptz '2026-01-01' + (g % 20000) * interval '1 minute', (g % 1000) / 10.0, g % 97
FROM generate_series(1, $TABLE) g;
CREATE MATERIALIZED VIEW sales_mv AS $query;
VACUUM ANALYZE sales;
SQL
psql_b -c "SELECT eventstream.sync('10 min')" >/dev/null
for pct in 1 10; do
	n=$((TABLE * pct / 100))
	capture off
	psql_b <<SQL
UPDATE sales SET amount = amount + 1 WHERE id IN (SELECT id FROM sales ORDER BY random() LIMIT $((n * 6 / 10)));
UPDATE sales SET region = (region + 7) % 50 WHERE id IN (SELECT id FROM sales ORDER BY random() LIMIT $((n * 2 / 10)));
DELETE FROM sales WHERE id IN (SELECT id FROM sales ORDER BY random() LIMIT $((n / 10)));
INSERT INTO sales (region, ts, amount, qty)
SELECT g % 50, timestamptz '2026-01-01' + (g % 20000) * interval '1 minute', 1, g % 97
FROM generate_series(1, $((n / 10))) g;
SQL
	t_inc=$(catch_up)
	[ "$(differ)" = 0 ] || { echo "the aggregate differs from its query" >&2; exit 1; }
	t_ref=$(timed "REFRESH MATERIALIZED VIEW sales_mv")
	printf '%3s%% (%7d changed rows): incremental %6.3f s, REFRESH MATERIALIZED VIEW %6.3f s: %6.1fx faster\n' \
		"$pct" "$n" "$t_inc" "$t_ref" "$(echo "$t_ref / $t_inc" | bc -l)"
done
psql_b -c "SELECT eventstream.drop_aggregate('sales_hourly')" -c "DROP MATERIALIZED VIEW sales_mv" >/dev/null
fi

if section 4; then
echo "== part 4: time series, $TS_ROWS readings of 1000 devices, then 1% more in the latest hours"
ts_query="SELECT device, date_bin('1 hour', ts, timestamptz '2026-01-01') AS hour, count(*) AS n,
       sum(v) AS total, avg(v) AS mean, min(v) AS lo, max(v) AS hi FROM readings GROUP BY 1, 2"
psql_b <<SQL
CREATE TABLE readings (id bigserial PRIMARY KEY, device int NOT NULL, ts timestamptz NOT NULL, v numeric(10,2));
INSERT INTO readings (device, ts, v)
SELECT g % 1000, timestamptz '2026-01-01' + (g / 1000) * interval '1 minute', (g % 997) / 10.0
FROM generate_series(0, $TS_ROWS - 1) g;
VACUUM ANALYZE readings;
CREATE MATERIALIZED VIEW readings_mv AS $ts_query;
SELECT eventstream.create_aggregate('readings_hourly', \$\$$ts_query\$\$, append_only => true);
SQL
psql_b -c "SELECT eventstream.sync('10 min')" >/dev/null
capture off
psql_b -c "INSERT INTO readings (device, ts, v)
           SELECT g % 1000, timestamptz '2026-01-01' + (g / 1000) * interval '1 minute', (g % 991) / 10.0
           FROM generate_series($TS_ROWS, $TS_ROWS + $TS_ROWS / 100 - 1) g"
t_inc=$(catch_up)
d=$(psql_b -c "SELECT (SELECT count(*) FROM (($ts_query) EXCEPT ALL SELECT * FROM readings_hourly) a)
                    + (SELECT count(*) FROM (SELECT * FROM readings_hourly EXCEPT ALL ($ts_query)) b)")
[ "$d" = 0 ] || { echo "the time-series aggregate differs from its query" >&2; exit 1; }
t_ref=$(timed "REFRESH MATERIALIZED VIEW readings_mv")
printf '1%% new rows (%d) in %s groups: incremental %6.3f s, REFRESH MATERIALIZED VIEW %6.3f s: %6.1fx faster\n' \
	"$((TS_ROWS / 100))" "$(psql_b -c "SELECT count(*) FROM readings_hourly WHERE hour >= (SELECT max(hour) FROM readings_hourly) - interval '3 hours'")" \
	"$t_inc" "$t_ref" "$(echo "$t_ref / $t_inc" | bc -l)"
echo "(groups: $(psql_b -c 'SELECT count(*) FROM readings_hourly'))"
psql_b -c "SELECT eventstream.drop_aggregate('readings_hourly')" -c "DROP TABLE readings CASCADE" >/dev/null
fi

section 3 || exit 0

echo "== part 3: inserting writers, $ROUNDS x ${DURATION}s per setup, 2 clients"
psql_b <<'SQL'
TRUNCATE sales;
CREATE TABLE sales_ivm (region int, hour timestamptz, n bigint, revenue numeric,
                        min_qty int, max_qty int, PRIMARY KEY (region, hour));
CREATE FUNCTION sales_ivm_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sales_ivm VALUES (NEW.region, date_bin('1 hour', NEW.ts, timestamptz '2026-01-01'),
                                1, NEW.amount, NEW.qty, NEW.qty)
  ON CONFLICT (region, hour) DO UPDATE
     SET n = sales_ivm.n + 1, revenue = sales_ivm.revenue + excluded.revenue,
         min_qty = least(sales_ivm.min_qty, excluded.min_qty),
         max_qty = greatest(sales_ivm.max_qty, excluded.max_qty);
  RETURN NULL;
END $$;
SQL
cat > "$work/insert.sql" <<'SQL'
\set r random(0, 49)
\set a random(1, 100000)
INSERT INTO sales (region, ts, amount, qty) VALUES (:r, now(), :a / 100.0, :a % 97);
SQL
chmod 644 "$work/insert.sql"

setup() {
	case $1 in
	aggregate) psql_b -c "SELECT eventstream.create_aggregate('sales_hourly', \$\$$query\$\$)" >/dev/null ;;
	trigger) psql_b -c "CREATE TRIGGER ivm AFTER INSERT ON sales FOR EACH ROW EXECUTE FUNCTION sales_ivm_insert()" ;;
	esac
}
teardown() {
	case $1 in
	aggregate)
		t0=$(now)
		psql_b -c "SELECT eventstream.sync('10 min')" >/dev/null
		echo "round $round  aggregate: after the run the worker needed $(printf '%.2f' "$(echo "$(now) - $t0" | bc -l)") s to catch up"
		[ "$(differ)" = 0 ] || { echo "the aggregate differs from its query" >&2; exit 1; }
		psql_b -c "SELECT eventstream.drop_aggregate('sales_hourly')" >/dev/null ;;
	trigger) psql_b -c "DROP TRIGGER ivm ON sales" -c "TRUNCATE sales_ivm" ;;
	esac
	psql_b -c "TRUNCATE sales" -c "CHECKPOINT" >/dev/null
}

declare -A tps
for round in $(seq 1 "$ROUNDS"); do
	for s in none aggregate trigger; do
		setup $s
		t=$(es_as_pg pgbench -h "$work" -p "$port" -n -c 2 -j 2 -T "$DURATION" -f "$work/insert.sql" postgres 2>/dev/null |
			awk -F' = ' '/^tps/ {print $2+0; exit}')
		echo "round $round  $(printf '%-9s' $s) $t tps"
		tps[$s]="${tps[$s]:-} $t"
		teardown $s
	done
done

base=$(echo "${tps[none]}" | median)
echo
printf '%-44s %10s %12s\n' setup "median tps" "vs none"
ratio_row "no aggregate (wal_level = logical, FULL)" "${tps[none]}" "$base"
ratio_row "continuous aggregate (worker)" "${tps[aggregate]}" "$base"
ratio_row "AFTER INSERT trigger upserting a summary" "${tps[trigger]}" "$base"
