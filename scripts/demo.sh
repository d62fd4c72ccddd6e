#!/usr/bin/env bash
# scripts/demo.sh - build, install and run a live pg_eventstream demo.
#
# On a fresh Debian 12 machine, as root: installs what is missing, builds
# and installs the extension, starts a throwaway cluster (as the postgres
# user, Unix socket only, in a directory under /tmp), makes some changes and
# shows them as events in each format of the output plugin, then as a
# stream filled by the background worker, a typed stream view, a consumer,
# a continuous aggregate that the worker keeps up to date, sinks pushing the
# events to a local webhook receiver and into a Kafka cluster (librdkafka's
# mock cluster: no broker is installed), and the worker's status.  The cluster keeps running so you can try it yourself;
# the script ends by saying how to connect and stop it.
#
#   bash scripts/demo.sh          start the demo
#   bash scripts/demo.sh stop     stop the demo cluster and remove it
set -euo pipefail
. "$(dirname "$0")/lib.sh"

state=/tmp/pg_eventstream-demo.dir

if [ "${1:-}" = "stop" ]; then
	es_base_packages
	if [ -f "$state" ]; then
		dir=$(cat "$state")
		es_as_pg pg_ctl -D "$dir/data" -m fast stop || true
		for pidfile in "$dir"/*.pid; do
			[ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
		done
		rm -rf "$dir" "$state"
		echo "demo cluster stopped and removed"
	else
		echo "no demo cluster is running"
	fi
	exit 0
fi

es_base_packages
echo "building and installing pg_eventstream"
es_build_install

if [ -f "$state" ]; then
	echo "stopping the previous demo cluster"
	es_as_pg pg_ctl -D "$(cat "$state")/data" -m fast stop >/dev/null 2>&1 || true
	for pidfile in "$(cat "$state")"/*.pid; do
		[ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
	done
	rm -rf "$(cat "$state")"
fi
dir=$(es_workdir demo)
echo "$dir" > "$state"
port=5433

es_as_pg initdb -D "$dir/data" -A trust >/dev/null
{
	es_server_conf
	echo "port = $port"
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$dir'"
} >> "$dir/data/postgresql.conf"
es_as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
echo "started a throwaway cluster in $dir (socket in $dir, port $port)"

psql_demo() { es_as_pg psql -h "$dir" -p "$port" -d postgres -X -v ON_ERROR_STOP=1 "$@"; }

psql_demo -q <<'SQL'
CREATE EXTENSION pg_eventstream;
CREATE TABLE orders(id int PRIMARY KEY, status text, amount numeric(10,2),
                    doc jsonb, created timestamptz DEFAULT now());
SELECT 'slot created' FROM pg_create_logical_replication_slot('demo', 'pg_eventstream');
-- the worker's stream of the same table: changes from now on go into the log
SELECT eventstream.create_stream('orders', '{orders}');
SELECT eventstream.create_stream_view('order_changes', 'orders', 'orders');
SELECT eventstream.create_consumer('billing', 'orders');
-- a continuous aggregate: a view the worker keeps equal to its query
ALTER TABLE orders REPLICA IDENTITY FULL;
SELECT eventstream.create_aggregate('orders_by_status',
  'SELECT status, count(*) AS orders, sum(amount) AS total, max(amount) AS largest
   FROM orders GROUP BY status');
SQL

echo
echo "== some changes"
psql_demo -e <<'SQL'
INSERT INTO orders(id, status, amount, doc) VALUES
  (1, 'new', 12.50, '{"items": [{"sku": "A1", "qty": 2}]}'),
  (2, 'new', 99.00, '{"items": []}');
BEGIN;
UPDATE orders SET status = 'paid' WHERE id = 1;
SELECT pg_logical_emit_message(true, 'outbox', '{"type": "receipt", "order": 1}');
SELECT eventstream.emit('orders', '{"type": "receipt", "order": 1}', key => '1');
COMMIT;
DELETE FROM orders WHERE id = 2;
SQL

echo
echo "== the events, format=json (the default), with begin/commit"
psql_demo -At -c "SELECT data FROM pg_logical_slot_peek_changes('demo', NULL, NULL, 'include-transaction', 'true')"
echo
echo "== the same update as a Debezium change event"
psql_demo -At -c "SELECT data FROM pg_logical_slot_peek_changes('demo', NULL, NULL, 'format', 'debezium', 'operations', 'update', 'messages', 'false')"
echo
echo "== and as a CloudEvent, pretty-printed"
psql_demo -At -c "SELECT data FROM pg_logical_slot_peek_changes('demo', NULL, NULL, 'format', 'cloudevents', 'operations', 'update', 'messages', 'false', 'pretty', 'true')"

echo
echo "== the stream 'orders', written once by the worker (sync waits for it)"
psql_demo -c "SELECT eventstream.sync() AS captured_up_to" \
	-c "SELECT id, op, key, new, commit_time FROM eventstream.read('orders')"
echo "== the stream view order_changes: old and new typed as orders rows"
psql_demo -c "SELECT id, op, (new).status, (new).amount, (old).status AS old_status FROM order_changes"
echo "== a consumer: poll, then commit the position (put the work and the commit in one transaction for exactly once)"
psql_demo -c "SELECT id, op, key FROM eventstream.poll('billing', max_events => 3)" \
	-c "SELECT eventstream.commit('billing', 3)" \
	-c "SELECT name, position, lag_events FROM eventstream.consumers"
echo "== the continuous aggregate orders_by_status, kept by the worker (the delete of order 2 took its group away)"
psql_demo -c "SELECT * FROM orders_by_status ORDER BY status"
psql_demo -q -c "INSERT INTO orders(id, status, amount) SELECT g, 'new', g FROM generate_series(10, 1009) g" \
	-c "SELECT eventstream.sync()" >/dev/null
echo "== after 1000 more orders and sync(): the view reads like its query"
psql_demo -c "SELECT * FROM orders_by_status ORDER BY status" \
	-c "SELECT name, source, state, groups, lag_bytes FROM eventstream.aggregates"
echo
echo "== sinks: a webhook receiver (test/webhook_receiver.py) and a Kafka cluster (librdkafka's mock)"
echo '{}' > "$dir/hook.control"
python3 "$ES_ROOT/test/webhook_receiver.py" "$dir/hook.port" "$dir/hook.log" "$dir/hook.control" \
	< /dev/null > /dev/null 2>&1 &
echo $! > "$dir/receiver.pid"
cc -o "$dir/kafka_mock" "$ES_ROOT/test/kafka_mock.c" -lrdkafka
mkfifo "$dir/mock.in"
# (the fifo is held open so that the mock keeps running after this script)
sleep 1000000 > "$dir/mock.in" 2>/dev/null < /dev/null &
echo $! > "$dir/mock-stdin.pid"
"$dir/kafka_mock" 3 < "$dir/mock.in" > "$dir/mock.out" 2>/dev/null &
echo $! > "$dir/mock.pid"
for _ in $(seq 50); do [ -s "$dir/hook.port" ] && grep -q bootstrap "$dir/mock.out" && break; sleep 0.1; done
hook_port=$(cat "$dir/hook.port")
brokers=$(awk '/^bootstrap/ {print $2}' "$dir/mock.out")
echo "topic demo.public.orders 3" > "$dir/mock.in"
psql_demo -e -q <<SQL
SELECT eventstream.create_sink('hooks', 'orders', 'webhook', '{
  "url": "http://127.0.0.1:$hook_port/events",
  "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "batch_size": 10}');
SELECT eventstream.create_sink('to_kafka', 'orders', 'kafka', '{
  "brokers": "$brokers", "topic": "demo.{schema}.{table}", "format": "debezium"}');
UPDATE orders SET status = 'shipped' WHERE id = 1;
SELECT eventstream.sync();
SQL
for _ in $(seq 100); do
	[ "$(psql_demo -At -c "SELECT count(*) FROM eventstream.sinks WHERE backlog = 0")" = 2 ] && break
	sleep 0.1
done
psql_demo -c "SELECT name, kind, state, position, backlog, delivered, last_error FROM eventstream.sinks"
echo "== the last request the receiver got: signed headers, a JSON array of events"
tail -1 "$dir/hook.log" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
for h in ("webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type"):
    print("  %s: %s" % (h, r["headers"].get(h) or r["headers"].get(h.lower())))
print("  body:", r["body"][:300], "...")'
echo "== the last message of the Kafka topic, read back with kcat (a Debezium value, eventstream headers)"
kcat -b "$brokers" -C -t demo.public.orders -e -q -o -1 \
	-f '  partition %p, offset %o, key %k\n  headers %h\n  value %s\n' 2>/dev/null | tail -3 | cut -c1-300

echo "== the worker"
psql_demo -x -c "SELECT pid, state, slot_name, applied_lsn, lag_bytes, events_total FROM eventstream.status"
psql_demo -c "SELECT name, tables, first_id, last_id, segments FROM eventstream.streams"

cat <<DONE

The demo cluster is running.
  connect:   runuser -u postgres -- psql -h $dir -p $port postgres
  stream:    runuser -u postgres -- pg_recvlogical -h $dir -p $port -d postgres -S demo --start -f - -o include-transaction=1
             (then change the orders table from psql and watch the events arrive)
  read:      SELECT * FROM eventstream.read('orders', after_id => 0);
             SELECT * FROM eventstream.poll('billing', 10, wait => '30 s');  -- then insert elsewhere
             LISTEN eventstream;  -- the worker notifies after each batch
  aggregate: SELECT * FROM orders_by_status;  -- change orders, then SELECT eventstream.sync();
  sinks:     SELECT * FROM eventstream.sinks;  -- requests logged in $dir/hook.log;
             kcat -b $brokers -C -t demo.public.orders -e
  stop:      bash $ES_ROOT/scripts/demo.sh stop
DONE
