# test/bench/lib.sh - what the benchmarks share: a throwaway cluster, a
# psql for it, and small helpers.  Sourced after scripts/lib.sh.

# bench_cluster PORT [SETTING...] makes and starts a cluster with the test
# settings, a Unix socket in its own directory, and the given extra
# postgresql.conf lines; it sets $work and $port and stops the cluster
# when the script exits.
bench_cluster() {
	port=$1
	shift
	work=$(es_workdir bench)
	{
		es_server_conf
		echo "port = $port"
		echo "unix_socket_directories = '$work'"
		echo "listen_addresses = ''"
		printf '%s\n' "$@"
	} > "$work/bench.conf"
	es_as_pg initdb -D "$work/data" -A trust >/dev/null
	cat "$work/bench.conf" >> "$work/data/postgresql.conf"
	es_as_pg pg_ctl -D "$work/data" -l "$work/server.log" -w start >/dev/null
	trap 'es_as_pg pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true' EXIT
}

# psql_b runs psql on the benchmark cluster: quiet, unaligned, stop on error
psql_b() { es_as_pg psql -h "$work" -p "$port" -d postgres -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# now prints the time in seconds with fractions
now() { date +%s.%N; }

# median prints the median of the numbers on its input
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# ratio_row LABEL VALUES BASE prints a row of a result table: the label, the
# median of the values, and that median over BASE
ratio_row() {
	local m
	m=$(echo "$2" | median)
	printf '%-44s %10.0f %11.2fx\n' "$1" "$m" "$(echo "$m / $3" | bc -l)"
}

# rate_row LABEL SECONDS CHANGES ANCHOR_SECONDS prints a row of a throughput
# table: seconds, changes per second, and the speed relative to the anchor
rate_row() {
	printf '%-48s %9.2f %12.0f %8.2fx\n' "$1" "$2" "$(echo "$3 / $2" | bc -l)" "$(echo "$4 / $2" | bc -l)"
}

# sink_worker_private_kb prints the sink worker's private memory (RssAnon:
# not the shared buffers it reads), in kB, or 0 if it is not running
sink_worker_private_kb() {
	local pid
	pid=$(psql_b -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_eventstream sink worker'" | head -1)
	if [ -n "$pid" ]; then awk '/RssAnon/ {print $2}' "/proc/$pid/status"; else echo 0; fi
}

# resume_and_time SINK LAST resumes a paused sink and prints the seconds
# until its position reaches event LAST
resume_and_time() {
	local t0
	t0=$(now)
	psql_b -c "SELECT eventstream.resume_sink('$1')" >/dev/null
	until [ "$(psql_b -c "SELECT position >= $2 FROM eventstream.sinks WHERE name = '$1'")" = t ]; do
		sleep 0.05
	done
	echo "$(now) - $t0" | bc -l
}

# anchor_install NAME DIR builds and installs an anchor extension from its
# PGXS source directory DIR (copied first: DIR may be read-only or private);
# without DIR it says the anchor is skipped and returns 1.
anchor_install() {
	local copy
	if [ -z "$2" ] || [ ! -f "$2/Makefile" ]; then
		echo "($1 anchor skipped: no source; set its *_SRC to a $1 source directory)"
		return 1
	fi
	copy=$(mktemp -d "/tmp/pg_eventstream-anchor.XXXXXX")
	cp -r "$2/." "$copy"
	# built first, then installed: a Makefile may make its install script
	# in "all" (pgmq does) and list its scripts when it starts
	make -s -C "$copy" PG_CONFIG="$PG_CONFIG" >/dev/null
	if [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then
		make -s -C "$copy" PG_CONFIG="$PG_CONFIG" install >/dev/null
	else
		sudo make -s -C "$copy" PG_CONFIG="$PG_CONFIG" install >/dev/null
	fi
	rm -rf "$copy"
}
