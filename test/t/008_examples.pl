# The Python examples work: the consumer-group example processes every
# event exactly once, with its work and its position in one transaction;
# the replication example reads the output plugin's events.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $examples = ($ENV{ES_ROOT} // '.') . "/examples";
my $node = es_node('examples');
my $dsn = $node->connstr('postgres');

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE orders (id int PRIMARY KEY, amount numeric);
	SELECT eventstream.create_stream('orders', '{orders}');
	SELECT eventstream.create_consumer('billing', 'orders');
	INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 1200) g;
	UPDATE orders SET amount = 0 WHERE id <= 10;
	DELETE FROM orders WHERE id > 1190;
	SELECT eventstream.sync();
});

my ($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', "$examples/consumer_group.py", $dsn, 'billing', '--wait', '0 s' ],
	'>', \$out, '2>', \$err);
like($out, qr/batches: [1-9]/, 'the consumer-group example ran') or diag($err);
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM ((SELECT id, amount FROM orders EXCEPT SELECT order_id, amount FROM order_totals)
	  UNION ALL (SELECT order_id, amount FROM order_totals EXCEPT SELECT id, amount FROM orders)) d}),
	'0', 'its table equals the source');
is($node->safe_psql('postgres', q{SELECT lag_events FROM eventstream.consumers}),
	'0', 'and its position is at the end of the stream');

# a second run finds nothing to do: each event was processed once
IPC::Run::run([ '/usr/bin/python3', "$examples/consumer_group.py", $dsn, 'billing', '--wait', '0 s' ],
	'>', \$out, '2>', \$err);
like($out, qr/batches: 0/, 'a second run has nothing left');

# replication protocol: begin, three inserts, commit
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('py', 'pg_eventstream')});
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (5001, 1), (5002, 2), (5003, 3)});
IPC::Run::run([ 'timeout', '60', '/usr/bin/python3', "$examples/replication_reader.py", $dsn, 'py', '--max', '5' ],
	'>', \$out, '2>', \$err);
my @lines = split /\n/, $out;
is(scalar(@lines), 5, 'the replication example printed five events') or diag($err);
like($lines[0], qr/"op": "begin"/, 'a begin first');
like($lines[2], qr/"new": \{"amount": 2, "id": 5002\}/, 'then the inserts');
like($lines[4], qr/"op": "commit"/, 'and the commit');

done_testing();
