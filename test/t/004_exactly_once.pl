# Exactly once across crashes: a workload with a known history runs while
# the postmaster is killed with SIGKILL several times and the worker is
# terminated; afterwards the stream must equal the committed history:
# every committed transaction exactly once, in commit order, contiguous,
# and nothing of the rolled-back ones.
#
# Each transaction bumps a counter (so commit order is counter order),
# inserts two rows stamped with the new value, emits a message with it,
# and inserts and rolls back a savepoint; one in ten rolls back entirely.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = es_node('crash');
# small batches, so that crashes fall between and inside many of them
$node->append_conf('postgresql.conf', "eventstream.batch_size = 50\n");
$node->restart;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE counter (k int PRIMARY KEY, n bigint NOT NULL);
	INSERT INTO counter VALUES (1, 0);
	CREATE TABLE rows (id bigserial PRIMARY KEY, n bigint NOT NULL);
	SELECT eventstream.create_stream('hist', '{counter, rows}');
});

my $script = $node->basedir . '/workload.sql';
open my $fh, '>', $script or die;
print $fh <<'SQL';
\set r random(0, 9)
BEGIN;
UPDATE counter SET n = n + 1 WHERE k = 1;
INSERT INTO rows (n) SELECT n FROM counter WHERE k = 1;
SAVEPOINT s;
INSERT INTO rows (n) VALUES (-1);
ROLLBACK TO SAVEPOINT s;
INSERT INTO rows (n) SELECT n FROM counter WHERE k = 1;
SELECT eventstream.emit('hist', jsonb_build_object('n', n), key => n::text) FROM counter WHERE k = 1;
\if :r = 0
ROLLBACK;
\else
COMMIT;
\endif
SQL
close $fh;

sub start_workload
{
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-T', '120', '-f', $script,
		  $node->connstr('postgres') ],
		'>', \$out, '2>', \$err);
}

sub counter { return $node->safe_psql('postgres', 'SELECT n FROM counter'); }


for my $round (1 .. 5)
{
	my $start = counter();
	my $pgbench = start_workload();
	$node->poll_query_until('postgres',
		"SELECT n >= $start + 150 FROM counter")
	  or die "workload made no progress";
	if ($round == 3)
	{
		# the worker alone dies, in the middle of the workload
		$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid)
			FROM pg_stat_activity WHERE backend_type = 'pg_eventstream worker'});
		$node->poll_query_until('postgres', "SELECT n >= $start + 300 FROM counter");
		$pgbench->kill_kill;
	}
	else
	{
		$node->kill9;
		$pgbench->kill_kill;
		es_restart_after_kill($node);
	}
	note("round $round done at counter " . counter());
}

# let the worker catch up, then compare the stream with the history
$node->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});
my $n = counter();
ok($n > 500, "the workload committed $n transactions");

my %check = (
	'ids are dense from 1' =>
	  q{SELECT count(*) = max(id) AND min(id) = 1 FROM eventstream.read('hist', 0, 100000000)},
	'every committed counter value exactly once, in id order' => qq{
		SELECT array_agg((new->>'n')::bigint ORDER BY id) = array(SELECT generate_series(1::bigint, $n))
		FROM eventstream.read('hist', 0, 100000000) WHERE table_name = 'counter'},
	'every committed row exactly once' => q{
		SELECT count(*) = 0 FROM (
			(SELECT (new->>'id')::bigint, (new->>'n')::bigint FROM eventstream.read('hist', 0, 100000000)
			 WHERE table_name = 'rows'
			 EXCEPT ALL SELECT id, n FROM rows)
			UNION ALL
			(SELECT id, n FROM rows EXCEPT ALL
			 SELECT (new->>'id')::bigint, (new->>'n')::bigint FROM eventstream.read('hist', 0, 100000000)
			 WHERE table_name = 'rows')) d},
	'no rolled-back work' => q{
		SELECT count(*) = 0 FROM eventstream.read('hist', 0, 100000000) WHERE (new->>'n')::bigint = -1},
	'every committed message exactly once' => qq{
		SELECT array_agg((new->>'n')::bigint ORDER BY id) = array(SELECT generate_series(1::bigint, $n))
		FROM eventstream.read('hist', 0, 100000000) WHERE op = 'message'},
	'each transaction has its events in change order: counter, row, row, message' => q{
		SELECT bool_and(shape = 'update,insert,insert,message') FROM (
			SELECT string_agg(op, ',' ORDER BY id) AS shape, count(*) AS c,
				   max(id) - min(id) + 1 AS span
			FROM eventstream.read('hist', 0, 100000000) GROUP BY xid
			) t},
	'no transaction is split' => q{
		SELECT bool_and(c = span) FROM (
			SELECT count(*) AS c, max(id) - min(id) + 1 AS span
			FROM eventstream.read('hist', 0, 100000000) GROUP BY xid) t},
);
for my $name (sort keys %check)
{
	is($node->safe_psql('postgres', $check{$name}), 't', $name);
}
is($node->safe_psql('postgres',
	q{SELECT count(DISTINCT xid) FROM eventstream.read('hist', 0, 100000000)}),
	$n, 'one transaction in the stream per committed transaction');

done_testing();
