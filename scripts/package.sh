#!/usr/bin/env bash
# scripts/package.sh - build the Debian package, install it, and run the
# regression and isolation suites against the installed files.
#
# The package is built the Debian way (debian/, pg_buildext: once for each
# PostgreSQL version of debian/pgversions that is installed) from a copy of
# the checkout, so the checkout stays clean.  Installing it replaces a
# "make install" of the extension.  Not part of scripts/test.sh (CI does not
# build packages); run as root on Debian.  Ends with the path of the .deb.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

es_base_packages
es_install_packages dpkg-dev debhelper postgresql-server-dev-all zlib1g-dev fakeroot

work=$(es_workdir package)
mkdir -p "$work/src"
(cd "$ES_ROOT" && tar --exclude=./.git -cf - .) | (cd "$work/src" && tar -xf -)
make -s -C "$work/src" clean >/dev/null 2>&1 || true
(cd "$work/src" && dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1) || {
	tail -30 "$work/build.log"
	echo "package: the build failed (log: $work/build.log)" >&2
	exit 1
}
deb=$(ls "$work"/postgresql-"$ES_PG_MAJOR"-eventstream_*_*.deb | grep -v dbgsym)
dpkg -i "$deb" >/dev/null

# the suites against the installed package: a clean copy, read by postgres
mkdir -p "$work/check"
(cd "$ES_ROOT" && tar --exclude=./.git -cf - .) | (cd "$work/check" && tar -xf -)
chown -R postgres: "$work/check"
if ! (cd "$work/check" && es_as_pg make -s PG_CONFIG="$PG_CONFIG" installcheck TEMP_INSTANCE=1 \
		NO_INSTALL=1 PROVE_TESTS= TAP_TESTS= > "$work/check.log" 2>&1); then
	grep -E 'FAILED|failed|not ok' "$work/check.log" | head -20
	echo "package: installcheck failed (log: $work/check.log)" >&2
	exit 1
fi
grep -E 'tests passed|All [0-9]+ tests' "$work/check.log" || true
echo "package: $deb"
