#!/usr/bin/env python3
"""A consumer that processes each event exactly once.

It polls a pg_eventstream consumer, does its work (here: records each
order's latest amount in a table of its own) and commits the consumer's
position in the same transaction as that work.  If it crashes before the
commit, both roll back and the events come again; after the commit, they
never do.  Uses Debian's python3-psycopg2.

    python3 examples/consumer_group.py "dbname=app" billing [--max-batches N]
"""
import argparse

import psycopg2


def run(dsn, consumer, max_batches, wait):
    conn = psycopg2.connect(dsn)
    conn.autocommit = False
    batches = 0
    with conn:
        with conn.cursor() as cur:
            cur.execute("""CREATE TABLE IF NOT EXISTS order_totals
                           (order_id int PRIMARY KEY, amount numeric)""")
    while max_batches is None or batches < max_batches:
        with conn:  # one transaction: the work and the position
            with conn.cursor() as cur:
                cur.execute("SELECT id, op, key, new FROM eventstream.poll(%s, 500, wait => %s)",
                            (consumer, wait))
                events = cur.fetchall()
                if not events:
                    break
                for _id, op, key, new in events:
                    if op in ("insert", "update", "snapshot"):
                        cur.execute("""INSERT INTO order_totals VALUES (%s, %s)
                                       ON CONFLICT (order_id) DO UPDATE SET amount = excluded.amount""",
                                    (new["id"], new["amount"]))
                    elif op == "delete":
                        cur.execute("DELETE FROM order_totals WHERE order_id = %s", (key["id"],))
                cur.execute("SELECT eventstream.commit(%s, %s)", (consumer, events[-1][0]))
        batches += 1
    conn.close()
    return batches


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsn")
    parser.add_argument("consumer")
    parser.add_argument("--max-batches", type=int, default=None)
    parser.add_argument("--wait", default="1 s", help="how long a poll waits for events")
    args = parser.parse_args()
    print("batches:", run(args.dsn, args.consumer, args.max_batches, args.wait))


if __name__ == "__main__":
    main()
