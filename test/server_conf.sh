#!/bin/sh
# test/server_conf.sh - print the settings every test and demo cluster uses.
#
#   sh test/server_conf.sh [pg_config]
#
# The capture worker needs pg_eventstream preloaded and logical WAL; the
# tests need prepared transactions and a small logical_decoding_work_mem
# (so that large transactions stream).  Builds of the server that have
# output_plugin_libraries refuse output plugins not listed there: it is
# set when, and only when, the server knows it.
pg_config=${1:-pg_config}
bindir=$("$pg_config" --bindir)
cat <<CONF
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
max_prepared_transactions = 10
logical_decoding_work_mem = 64kB
shared_preload_libraries = 'pg_eventstream'
CONF
if "$bindir/postgres" --describe-config 2>/dev/null | cut -f1 | grep -qx output_plugin_libraries; then
	echo "output_plugin_libraries = 'pgoutput, test_decoding, pg_eventstream, wal2json'"
fi
