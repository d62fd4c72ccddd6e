#!/usr/bin/env bash
# scripts/test.sh - build, install and run every pg_eventstream test suite.
#
# Each suite runs against its own temporary instance, so no server needs to
# be running: pg_regress (sql/ and expected/), isolation specs
# (test/isolation/), and TAP tests (test/t/, PostgreSQL::Test::Cluster).
# Run as root on a fresh Debian 12 machine it installs what it needs; the
# clusters then run as the "postgres" user.  It ends with one line
# "tests: N passed, N failed" and exits non-zero if anything failed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

es_base_packages
es_build_install

work=$(es_workdir test)
es_server_conf > "$work/server.conf"

# The clusters and test runners run as "postgres", which may not be able to
# read this checkout (a private home directory, mode 700): they read a copy
# of it in the work directory instead.
tree="$work/tree"
mkdir -p "$tree"
(cd "$ES_ROOT" && tar --exclude=./.git -cf - .) | (cd "$tree" && tar -xf -)
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$tree"
cd "$work"		# and from a directory it may enter
passed=0
failed=0

# count the results of a pg_regress-style run: its output and exit code
count_regress() {
	local out=$1 rc=$2 ok bad
	ok=$(grep -Ec '\.\.\. ok( |$)' "$out" || true)
	bad=$(grep -Ec '\.\.\. FAILED' "$out" || true)
	# a run that failed before any test (initdb, server start) counts too
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
	passed=$((passed + ok))
	failed=$((failed + bad))
}

echo "== regression tests (pg_regress)"
mkdir -p "$work/regress"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work/regress"
set +e
es_as_pg "$PGXS_DIR/src/test/regress/pg_regress" \
	--temp-instance="$work/regress/tmp_check" \
	--temp-config="$work/server.conf" \
	--inputdir="$tree" --outputdir="$work/regress" \
	--bindir="$PGBIN" --dbname=contrib_regression \
	--schedule="$tree/test/schedule" > "$work/regress.out" 2>&1
rc=$?
set -e
cat "$work/regress.out"
count_regress "$work/regress.out" "$rc"
[ -f "$work/regress/regression.diffs" ] && cat "$work/regress/regression.diffs"

echo "== isolation tests"
iso_tests=$(cd "$tree/test/isolation/specs" && ls ./*.spec | sed 's|^\./||; s|\.spec$||' | sort)
mkdir -p "$work/isolation"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work/isolation"
set +e
es_as_pg "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
	--temp-instance="$work/isolation/tmp_check" \
	--temp-config="$work/server.conf" \
	--inputdir="$tree/test/isolation" --outputdir="$work/isolation" \
	--bindir="$PGBIN" --dbname=isolation_regression \
	$iso_tests > "$work/isolation.out" 2>&1
rc=$?
set -e
cat "$work/isolation.out"
count_regress "$work/isolation.out" "$rc"
[ -f "$work/isolation/regression.diffs" ] && cat "$work/isolation/regression.diffs"

echo "== TAP tests"
mkdir -p "$work/tap"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work/tap"
set +e
(cd "$work/tap" && es_as_pg env \
	PERL5LIB="$PGXS_DIR/src/test/perl:$tree/test/perl" \
	PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
	TESTDIR="$work/tap" ES_SERVER_CONF="$work/server.conf" ES_ROOT="$tree" \
	prove -v "$tree"/test/t/*.pl 2>&1 | tee "$work/tap.out")
set -e
ok=$(grep -Ec '^ok [0-9]+' "$work/tap.out" || true)
bad=$(grep -Ec '^not ok [0-9]+' "$work/tap.out" || true)
grep -q '^Result: PASS' "$work/tap.out" || bad=$((bad > 0 ? bad : 1))
passed=$((passed + ok))
failed=$((failed + bad))

echo "test output kept in $work"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
