# scripts/lib.sh - shell helpers shared by test.sh, demo.sh and the benchmarks.
#
# They find the PostgreSQL 15 installation, install the Debian packages the
# project needs when run as root, build and install the extension, and run
# commands as the "postgres" user (initdb and postgres refuse to run as
# root).  Source it; it defines functions and variables only.

ES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ES_PG_MAJOR=${ES_PG_MAJOR:-15}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$ES_PG_MAJOR/bin/pg_config}

# es_install_packages installs missing Debian packages (root only).
es_install_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]} (run as root to install them)" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	if [ -z "${ES_APT_UPDATED:-}" ]; then
		apt-get update -qq
		ES_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# es_base_packages: what building and testing needs.
es_base_packages() {
	es_install_packages make gcc libc6-dev "postgresql-$ES_PG_MAJOR" \
		"postgresql-server-dev-$ES_PG_MAJOR" libipc-run-perl python3-psycopg2 \
		libcurl4-openssl-dev librdkafka-dev kcat "postgresql-$ES_PG_MAJOR-hll"
	# Debian's package starts a cluster of its own; we never use it.
	PGBIN=$("$PG_CONFIG" --bindir)
	PGXS_DIR=$(dirname "$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")")
	export PATH="$PGBIN:$PATH"
}

# es_build_install builds the extension and installs it into the server.
es_build_install() {
	make -s -C "$ES_ROOT" PG_CONFIG="$PG_CONFIG" COPT=-Werror >/dev/null
	if [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then
		make -s -C "$ES_ROOT" PG_CONFIG="$PG_CONFIG" install >/dev/null
	else
		sudo make -s -C "$ES_ROOT" PG_CONFIG="$PG_CONFIG" install >/dev/null
	fi
}

# es_as_pg runs a command as the postgres user when we are root.
es_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env PATH="$PATH" "$@"
	else
		"$@"
	fi
}

# es_workdir makes a scratch directory the cluster user can write.
es_workdir() {
	local dir
	dir=$(mktemp -d "/tmp/pg_eventstream-$1.XXXXXX")
	chmod 755 "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	echo "$dir"
}

# es_server_conf prints the settings every test and demo cluster uses.
es_server_conf() {
	sh "$ES_ROOT/test/server_conf.sh" "$PG_CONFIG"
}
