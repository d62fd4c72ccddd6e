# The worker's memory stays bounded on a huge transaction: the batch
# spills to a temporary file past work_mem and each event is written in a
# per-event memory context, so peak memory must not grow with the size of
# the transaction.  The table also feeds a continuous aggregate, whose rows
# of the batch spill the same way and whose deltas are one SQL statement.
# (ES_WORKER_HUGE_ROWS=10000000 runs the 10M-row case.)

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $rows = $ENV{ES_WORKER_HUGE_ROWS} || 1_000_000;
my $node = es_node('worker_memory');
# one batch of 10M rows is more than eventstream.user_code_timeout (10 s)
# of aggregate maintenance on a small machine: the aggregate would be
# marked failed, as designed; this test is about memory
if ($rows > 1_000_000)
{
	$node->append_conf('postgresql.conf', 'eventstream.user_code_timeout = 600s');
	$node->reload;
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE huge (id int PRIMARY KEY, v text, n numeric);
	ALTER TABLE huge REPLICA IDENTITY FULL;
	-- small segments: the worker creates many of them inside one batch
	SET eventstream.segment_size = 100000;
	SELECT eventstream.create_stream('huge', '{huge}');
	SELECT eventstream.create_aggregate('huge_by_tens',
		'SELECT id % 10 AS k, count(*), sum(n), min(v), max(n) FROM huge GROUP BY 1');
	INSERT INTO huge VALUES (0, 'warm up', 0);
	SELECT eventstream.sync();
});
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_eventstream worker'});
my $before = proc_status_kb($pid, 'VmHWM');

$node->safe_psql('postgres', qq{
	INSERT INTO huge SELECT g, repeat('x', 40) || g, g * 1.5 FROM generate_series(1, $rows) g;
});
$node->safe_psql('postgres', q{SELECT eventstream.sync('600 s')});
is($node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_eventstream worker'}),
	$pid, 'the same worker did it, without restarting');
my $after = proc_status_kb($pid, 'VmHWM');
ok(defined $before && defined $after, 'the worker\'s peak memory could be read');
$after //= 0;
$before //= 0;
my $grew_mb = ($after - $before) / 1024;
diag(sprintf('%d-row transaction: worker peak memory grew %.1f MB (VmHWM %d -> %d kB)',
	$rows, $grew_mb, $before, $after));

is($node->safe_psql('postgres', q{SELECT last_id FROM eventstream.streams}),
	$rows + 1, 'every row of the huge transaction is in the stream');
is($node->safe_psql('postgres',
	q{SELECT count(DISTINCT xid) FROM eventstream.event_log WHERE id > 1}),
	'1', 'as one transaction');
is($node->safe_psql('postgres', q{SELECT segments FROM eventstream.streams}),
	int($rows / 100000) + 1, 'in segments of 100,000 ids');
cmp_ok($grew_mb, '<', 64, 'worker peak memory stays bounded (grows by less than 64 MB)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		(SELECT id % 10 AS k, count(*), sum(n), min(v), max(n) FROM huge GROUP BY 1
		 EXCEPT ALL SELECT * FROM huge_by_tens)
		UNION ALL
		(SELECT * FROM huge_by_tens
		 EXCEPT ALL SELECT id % 10 AS k, count(*), sum(n), min(v), max(n) FROM huge GROUP BY 1)) d}),
	'0', 'the aggregate over the huge transaction equals its query');

done_testing();
