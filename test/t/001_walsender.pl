# The plugin over the replication protocol, as pg_recvlogical (or any
# replication client) uses it: every event is one JSON line, transactions
# come whole, a streamed transaction that aborts ends in a stream_abort in
# the same session, and bad options fail START_REPLICATION.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = es_node('walsender');
my $connstr = $node->connstr('postgres');
my $out = $node->basedir . '/events.jsonl';

$node->safe_psql('postgres', q{
	CREATE TABLE t(id int PRIMARY KEY, v text);
	CREATE TABLE big(id int PRIMARY KEY, pad text);
});
$node->command_ok(
	[ 'pg_recvlogical', '-d', $connstr, '-S', 'recv', '-P', 'pg_eventstream',
	  '--create-slot' ],
	'pg_recvlogical creates a pg_eventstream slot');

my ($stdout, $stderr) = ('', '');
my $recv = IPC::Run::start(
	[ 'pg_recvlogical', '-d', $connstr, '-S', 'recv', '--start', '-f', $out,
	  '-F', '0', '-s', '1', '-o', 'include-transaction=1',
	  '-o', 'stream-changes=1' ],
	'>', \$stdout, '2>', \$stderr);

# ordinary transactions, including text that would break a naive writer
$node->safe_psql('postgres', q{
	INSERT INTO t VALUES (1, E'line\nbreak "quoted" \\\\ backslash');
	BEGIN; INSERT INTO t VALUES (2, 'a'); UPDATE t SET v = 'b' WHERE id = 2; COMMIT;
	DELETE FROM t WHERE id = 1;
});
my $events = wait_for_events($out,
	sub { scalar(grep { $_->{op} eq 'commit' } @{ $_[0] }) >= 3 },
	'three committed transactions');
my @ops = map { $_->{op} } @$events;
is_deeply(\@ops,
	[qw(begin insert commit begin insert update commit begin delete commit)],
	'transactions arrive whole and in commit order');
is($events->[1]{new}{v}, qq{line\nbreak "quoted" \\ backslash},
	'text with line breaks, quotes and backslashes round-trips');
is($events->[5]{seq}, 2, 'seq numbers the events of a transaction');
is($events->[6]{event_count}, 2, 'commit carries the event count');
ok($events->[1]{commit_lsn} && $events->[1]{commit_time} =~ /Z$/,
	'changes carry the commit LSN and a UTC commit time');

# a large transaction streamed while in progress, then rolled back
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN');
$bg->query_safe(q{INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g});
my $xid = $bg->query_safe('SELECT txid_current()');
$node->safe_psql('postgres', 'CHECKPOINT');    # flush the WAL decoding reads
$events = wait_for_events($out,
	sub { grep { $_->{op} eq 'stream_stop' && $_->{xid} == $xid } @{ $_[0] } },
	'the in-progress transaction to be streamed');
my $streamed = grep { $_->{op} eq 'insert' && ($_->{xid} // 0) == $xid } @$events;
ok($streamed > 0, "changes of in-progress transaction $xid were streamed ($streamed)");
ok(!grep({ ($_->{xid} // 0) == $xid && exists $_->{commit_lsn} } @$events),
	'streamed changes carry no commit LSN');
$bg->query_safe('ROLLBACK');
$bg->quit;
$node->safe_psql('postgres', 'CHECKPOINT');    # a ROLLBACK does not flush
$events = wait_for_events($out,
	sub { grep { $_->{op} eq 'stream_abort' && $_->{xid} == $xid } @{ $_[0] } },
	'the stream_abort of the rolled-back transaction');
my ($abort) = grep { $_->{op} eq 'stream_abort' } @$events;
ok(!exists $abort->{subxid}, 'the abort is of the whole transaction');
ok(!grep({ $_->{op} eq 'stream_commit' && $_->{xid} == $xid } @$events),
	'the aborted transaction never commits');

$recv->kill_kill;
$recv->finish;

# every line ever written is JSON
$events = read_events($out);
ok(scalar(@$events) > 10, 'the whole output parses as JSON, one event a line');

# bad options fail START_REPLICATION with the plugin's error
my $result = IPC::Run::run(
	[ 'pg_recvlogical', '-d', $connstr, '-S', 'recv', '--start', '-f', '-',
	  '--no-loop', '-o', 'format=avro' ],
	'>', \$stdout, '2>', \$stderr);
ok(!$result, 'an unknown format is refused');
like($stderr, qr/invalid value "avro" for option "format"/,
	'the error names the option and the value');

# cloudevents and debezium over the protocol
$node->safe_psql('postgres', q{INSERT INTO t VALUES (3, 'ce')});
my $ce = $node->safe_psql('postgres', q{
	SELECT data FROM pg_logical_slot_peek_changes('recv', NULL, NULL,
	  'format', 'cloudevents', 'tables', 'public.t')});
like($ce, qr/"specversion":"1.0","id":"[0-9A-F]+\/[0-9A-F]+:1"/, 'cloudevents id is commit_lsn:seq');

$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('recv')});
$node->stop;
done_testing();
