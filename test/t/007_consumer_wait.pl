# A waiting poll is woken by the worker when events arrive (well before
# its wait is up), and statement_timeout cancels a waiting poll at once.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use EventstreamTest;

my $node = es_node('consumer_wait');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT eventstream.create_stream('t', '{t}');
	SELECT eventstream.create_consumer('waiter', 't');
});

my ($out, $err) = ('', '');
my $t0 = time;
my $poll = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT id, key FROM eventstream.poll('waiter', 10, wait => '120 s')} ],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%poll(''waiter''%' AND pid <> pg_backend_pid()});
$node->safe_psql('postgres', 'INSERT INTO t VALUES (42)');
$poll->finish;
my $elapsed = time - $t0;
is($out, qq(1|{"id": 42}\n), 'the waiting poll returns the event');
cmp_ok($elapsed, '<', 120, 'it was woken, not timed out');
diag(sprintf('poll returned %.2f s after it started waiting', $elapsed));

$node->safe_psql('postgres', q{SELECT eventstream.commit('waiter', 1)});
$t0 = time;
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SET statement_timeout = '300ms'; SELECT * FROM eventstream.poll('waiter', 10, wait => '120 s')});
like($stderr, qr/canceling statement due to statement timeout/,
	'statement_timeout cancels a waiting poll');
cmp_ok(time - $t0, '<', 60, 'at once, not after the wait');

done_testing();
