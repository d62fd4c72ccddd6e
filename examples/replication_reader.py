#!/usr/bin/env python3
"""Read the pg_eventstream output plugin over the replication protocol.

Creates (if missing) a logical slot with the pg_eventstream plugin and
prints each event, one JSON document per message, confirming what it has
printed so that the server may free the WAL.  Uses Debian's
python3-psycopg2.

    python3 examples/replication_reader.py "dbname=app" my_slot [--max N]
"""
import argparse
import json

import psycopg2
import psycopg2.extras


def run(dsn, slot, limit):
    conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    try:
        cur.create_replication_slot(slot, output_plugin="pg_eventstream")
    except psycopg2.errors.DuplicateObject:
        pass
    cur.start_replication(slot_name=slot, decode=True,
                          options={"format": "json", "include-transaction": "1"})
    seen = 0

    def consume(msg):
        nonlocal seen
        event = json.loads(msg.payload)
        print(json.dumps(event, sort_keys=True), flush=True)
        msg.cursor.send_feedback(flush_lsn=msg.data_start)
        seen += 1
        if limit is not None and seen >= limit:
            raise StopIteration

    try:
        cur.consume_stream(consume)
    except StopIteration:
        pass
    conn.close()
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsn")
    parser.add_argument("slot")
    parser.add_argument("--max", type=int, default=None, help="stop after this many events")
    args = parser.parse_args()
    run(args.dsn, args.slot, args.max)


if __name__ == "__main__":
    main()
