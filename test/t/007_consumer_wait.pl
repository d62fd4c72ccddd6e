# A waiting poll is woken by the worker when events arrive (well before
# its wait is up), and statement_timeout cancels a waiting poll at once.
# A poll waiting on a quiet stream is not woken by another stream's
# events: its loop (counted by track_functions) runs twice -- the first
# look and the one at its deadline -- however many batches go elsewhere.

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

# a quiet stream's waiter sleeps through another stream's batches
$node->safe_psql('postgres', q{
	CREATE TABLE busy (id int PRIMARY KEY);
	SELECT eventstream.create_stream('busy', '{busy}');
	SELECT eventstream.create_consumer('quiet', 't', start_at => 'latest');
	ALTER SYSTEM SET track_functions = 'all';
	SELECT pg_reload_conf();
});
($out, $err) = ('', '');
$poll = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT count(*) FROM eventstream.poll('quiet', 10, wait => '4 s')} ],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%poll(''quiet''%' AND pid <> pg_backend_pid()});
for my $i (1 .. 40)
{
	$node->safe_psql('postgres', "INSERT INTO busy VALUES ($i); SELECT eventstream.sync()");
}
$poll->finish;
is($out, "0\n", 'the quiet stream\'s poll timed out empty');
ok($node->safe_psql('postgres', q{SELECT count(DISTINCT (key->>'id')) FROM eventstream.read('busy', 0, 100)}) == 40,
	'the busy stream got its 40 batches meanwhile');
$node->poll_query_until('postgres', q{
	SELECT calls > 0 FROM pg_stat_user_functions WHERE funcname = '_stream_wake_seq'})
  or die "no function statistics";
is($node->safe_psql('postgres', q{SELECT calls FROM pg_stat_user_functions WHERE funcname = '_stream_wake_seq'}),
	'2', 'the waiter looked at the log twice: not once per batch of the other stream');

done_testing();
