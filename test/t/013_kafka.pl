# Kafka sinks against librdkafka's mock cluster (test/kafka_mock.c, three
# brokers, no broker installed): every event arrives exactly once -- by
# event id, read back with kcat at read_committed -- through three kill -9
# of the postmaster under a pgbench workload, injected produce errors and
# a broker down and up; equal keys share a partition and keep id order;
# the headers are right; tombstones follow deletes; debezium and
# cloudevents values; a message too large goes to dead letters while the
# others flow; a topic Kafka refuses disables the sink, saying why.

use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $root = $ENV{ES_ROOT} // '.';
my $dir = PostgreSQL::Test::Utils::tempdir;

plan skip_all => 'kcat is not installed' unless system('kcat -V >/dev/null 2>&1') == 0;
system('cc', '-o', "$dir/kafka_mock", "$root/test/kafka_mock.c", '-lrdkafka') == 0
  or die 'could not build test/kafka_mock.c';

# the mock cluster, and a way to give it commands and wait for "ok"
my ($mock_in, $mock_out) = ('', '');
my $mock = IPC::Run::start([ "$dir/kafka_mock", '3' ], '<', \$mock_in, '>', \$mock_out,
	'2>', "$dir/mock.log");
END { local $?; $mock->kill_kill if $mock; }
$mock->pump until $mock_out =~ /^bootstrap (\S+)\n/m;
my $brokers = $1;
$mock_out = '';

sub mock
{
	my ($cmd) = @_;
	$mock_in .= "$cmd\n";
	$mock->pump until $mock_out =~ /^(ok|error.*)\n/m;
	my $answer = $1;
	$mock_out = '';
	is($answer, 'ok', "mock cluster: $cmd");
}

# the messages of a topic: partition, offset, key, value (undef: null),
# headers
sub messages
{
	my ($topic) = @_;
	my $out = `kcat -b '$brokers' -C -t '$topic' -e -q -X isolation.level=read_committed -f '%p\\t%o\\t%k\\t%S\\t%h\\t%s\\n' 2>>'$dir/kcat.log'`;
	my @m;
	for my $line (split /\n/, $out)
	{
		my ($p, $o, $k, $len, $h, $v) = split /\t/, $line, 6;
		my %h = map { split /=/, $_, 2 } split /,/, $h;
		push @m, { partition => $p, offset => $o, key => $k, headers => \%h,
			value => $len < 0 ? undef : $v };
	}
	return \@m;
}

my $node = es_node('kafka');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE kk (id int PRIMARY KEY, v int NOT NULL, note text);
	SELECT eventstream.create_stream('ks', '{kk}');
});
mock('topic pg.public.kk 4');
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('tokafka', 'ks', 'kafka', '{
	  "brokers": "$brokers", "topic": "pg.{schema}.{table}", "tombstones": true,
	  "retry_schedule": ["200 ms", "500 ms"],
	  "config": {"linger.ms": 5, "message.timeout.ms": 10000,
	             "max.in.flight.requests.per.connection": 1}}');
});

sub last_id
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(max(id), 0) FROM eventstream.read('ks', 0, 10000000)});
}

sub wait_delivered
{
	my ($what) = @_;
	$node->safe_psql('postgres', 'SELECT eventstream.sync()');
	my $last = last_id();
	$node->poll_query_until('postgres',
		qq{SELECT position >= $last FROM eventstream.sinks WHERE name = 'tokafka'})
	  or diag($node->safe_psql('postgres', 'SELECT * FROM eventstream.sinks'));
	return $last;
}

# 1. a first batch, delivered once with its headers
$node->safe_psql('postgres', 'INSERT INTO kk SELECT g, 0 FROM generate_series(1, 300) g');
$node->safe_psql('postgres', 'DELETE FROM kk WHERE id <= 5');
my $last = wait_delivered('the first events');
my $msgs = messages('pg.public.kk');
is(scalar(grep { defined $_->{value} } @$msgs), 305, '305 events written');
is(scalar(grep { !defined $_->{value} } @$msgs), 5, 'a tombstone after each of the 5 deletes');
my %log = map { my @f = split /\|/; ($f[0] => { op => $f[1], lsn => $f[2] }) }
  split /\n/, $node->safe_psql('postgres',
	q{SELECT id, op, lsn FROM eventstream.read('ks', 0, 10000000)});
my $headers_ok = 1;
for my $m (grep { defined $_->{value} } @$msgs)
{
	my $h = $m->{headers};
	my $e = $log{ $h->{'eventstream-id'} // 0 };
	$headers_ok = 0 unless $e && $h->{'eventstream-stream'} eq 'ks'
	  && $h->{'eventstream-op'} eq $e->{op} && $h->{'eventstream-lsn'} eq $e->{lsn};
	my $doc = decode_json($m->{value});
	$headers_ok = 0 unless $doc->{id} == $h->{'eventstream-id'} && $doc->{stream} eq 'ks';
	$headers_ok = 0 unless $m->{key} eq encode_json($doc->{key}) && $m->{key} !~ / /;
}
ok($headers_ok, 'headers eventstream-stream/-id/-op/-lsn match the log; key is the compact key');
is($node->safe_psql('postgres', q{SELECT latency_p50 > '0' AND latency_p99 >= latency_p50
	FROM eventstream.sinks WHERE name = 'tokafka'}), 't', 'eventstream.sinks shows recent latency percentiles');

# 2. three kill -9 of the postmaster under pgbench, produce errors and a
# broker down and up between them.  (One request in flight per broker: with
# several, an injected error can make librdkafka bump the producer's epoch,
# and the mock cluster, unlike Kafka, then answers the new epoch's first
# sequence numbers as duplicates without storing them.  The sink does not
# believe such an answer and sends the event again, so nothing is lost, but
# after later events of its key.)
my $script = "$dir/work.sql";
open my $f, '>', $script or die;
print $f "\\set k random(1, 400)\n",
  "INSERT INTO kk VALUES (:k, 1) ON CONFLICT (id) DO UPDATE SET v = kk.v + 1;\n",
  "\\set d random(1, 400)\n",
  "DELETE FROM kk WHERE id = :d AND :d % 7 = 0;\n";
close $f;
for my $round (1 .. 3)
{
	my $bench = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-T', '3', '-f', $script,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', "$dir/pgbench.log", '2>', "$dir/pgbench.err");
	if ($round == 1) { mock('errors 0 6 30'); }	# NOT_LEADER_FOR_PARTITION: retried
	if ($round == 2) { mock('down 2'); }
	sleep 1.5;
	$node->kill9;
	$bench->finish;
	es_restart_after_kill($node);
	note('after kill ', $round, ': ', $node->safe_psql('postgres', 'SELECT position, state, last_error FROM eventstream.sinks'));
	if ($round == 2) { mock('up 2'); }
}
$node->safe_psql('postgres', 'UPDATE kk SET v = v + 1 WHERE id % 10 = 0');
$last = wait_delivered('every event after the faults');

$msgs = messages('pg.public.kk');
my %events = map { my @f = split /\|/; ($f[0] => $f[1]) }
  split /\n/, $node->safe_psql('postgres',
	q{SELECT id, op FROM eventstream.read('ks', 0, 10000000)});
my (%count, %tomb, %part_of, %last_in);
my ($order_ok, $part_ok) = (1, 1);
for my $m (sort { $a->{partition} <=> $b->{partition} || $a->{offset} <=> $b->{offset} } @$msgs)
{
	my $id = $m->{headers}{'eventstream-id'};
	if (defined $m->{value}) { $count{$id}++; } else { $tomb{$id}++; }
	$part_ok = 0 if defined $part_of{ $m->{key} } && $part_of{ $m->{key} } != $m->{partition};
	$part_of{ $m->{key} } = $m->{partition};
	next unless defined $m->{value};
	if (defined $last_in{ $m->{key} } && $id <= $last_in{ $m->{key} })
	{
		diag("key $m->{key}: event $id at $m->{partition}/$m->{offset} after event $last_in{ $m->{key} }")
		  if $order_ok;
		$order_ok = 0;
	}
	$last_in{ $m->{key} } = $id;
}
my @missing = grep { !$count{$_} } keys %events;
my @dups = grep { $count{$_} > 1 } keys %count;
my @extra = grep { !exists $events{$_} } keys %count;
cmp_ok(scalar(keys %events), '>', 1000, 'the workload wrote over a thousand events');
is(scalar(@missing), 0, 'no event is missing after 3 x kill -9, produce errors, a broker down')
  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]\n",
	$node->safe_psql('postgres', "SELECT id, op, key FROM eventstream.read('ks', 0, 10000000) WHERE id IN ("
	  . join(',', @missing[0 .. ($#missing < 9 ? $#missing : 9)]) . ')'), "\n",
	join("\n", map { "$_->{partition}/$_->{offset} $_->{key} $_->{headers}{'eventstream-id'}" }
	  grep { $_->{headers}{'eventstream-id'} > $missing[0] - 20 && $_->{headers}{'eventstream-id'} < $missing[0] + 20 } @$msgs));
is(scalar(@dups), 0, 'no event is written twice') or diag("twice: @dups[0 .. ($#dups < 9 ? $#dups : 9)]");
is(scalar(@extra), 0, 'nothing but the stream\'s events');
my @deletes = grep { $events{$_} eq 'delete' } keys %events;
is(scalar(grep { ($tomb{$_} // 0) == 1 } @deletes), scalar(@deletes),
	'one tombstone per delete, none twice');
ok($part_ok, 'equal keys, equal partition');
ok($order_ok, 'each key\'s events in id order');
is($node->safe_psql('postgres', q{SELECT state || ' ' || coalesce(last_error, '') FROM eventstream.sinks}),
	'running ', 'the sink runs, with no error left');

# 3. formats: debezium and cloudevents values
mock('topic fmt.dbz 1');
mock('topic fmt.ce 1');
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('dbz', 'ks', 'kafka', '{"brokers": "$brokers",
	  "topic": "fmt.dbz", "format": "debezium"}');
	SELECT eventstream.create_sink('ce', 'ks', 'kafka', '{"brokers": "$brokers",
	  "topic": "fmt.ce", "format": "cloudevents"}');
});
$node->safe_psql('postgres', q{
	INSERT INTO kk VALUES (100001, 7, 'x');
	UPDATE kk SET v = 8 WHERE id = 100001;
	DELETE FROM kk WHERE id = 100001;
});
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$last = last_id();
$node->poll_query_until('postgres',
	qq{SELECT bool_and(position >= $last) FROM eventstream.sinks WHERE name IN ('dbz', 'ce')})
  or die 'formats not delivered';
my @dbz = map { decode_json($_->{value}) } @{ messages('fmt.dbz') };
is(join(',', map { $_->{op} } @dbz), 'c,u,d', 'debezium ops c, u, d');
is($dbz[0]{after}{v}, 7, 'debezium after');
is($dbz[2]{before}{id}, 100001, 'debezium before of a delete');
is($dbz[0]{source}{table}, 'kk', 'debezium source table');
is($dbz[0]{source}{connector}, 'postgresql', 'debezium source connector');
my @ce = map { decode_json($_->{value}) } @{ messages('fmt.ce') };
is(join(',', map { $_->{type} } @ce), 'eventstream.insert,eventstream.update,eventstream.delete',
	'cloudevents types');
is($ce[0]{specversion}, '1.0', 'cloudevents specversion');
is($ce[0]{subject}, 'public.kk', 'cloudevents subject');
is($ce[0]{data}{new}{v}, 7, 'cloudevents data');
ok($ce[0]{eventstreamid} > 0, 'cloudevents carry the event id');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('dbz'); SELECT eventstream.drop_sink('ce')});

# 4. a message larger than the producer takes goes to dead letters; the
# others are written
mock('topic big.kk 2');
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('big', 'ks', 'kafka', '{"brokers": "$brokers",
	  "topic": "big.kk", "config": {"message.max.bytes": 2000}}');
});
$node->safe_psql('postgres', q{
	INSERT INTO kk VALUES (200001, 1, repeat('x', 5000));
	INSERT INTO kk VALUES (200002, 1, 'small');
});
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$last = last_id();
$node->poll_query_until('postgres',
	qq{SELECT position >= $last FROM eventstream.sinks WHERE name = 'big'})
  or die 'big not delivered';
my @big = @{ messages('big.kk') };
is(scalar(@big), 1, 'the small event is written');
like($node->safe_psql('postgres', q{SELECT last_error FROM eventstream.dead_letters WHERE sink = 'big'}),
	qr/too large|message of \d+ bytes/i, 'the large one is a dead letter, with the reason');
# replayed once the producer takes larger messages
$node->safe_psql('postgres', q{
	SELECT eventstream.alter_sink('big', '{"config": {"message.max.bytes": 1000000}}');
	SELECT eventstream.replay_dead_letters('big');
});
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM eventstream.dead_letters WHERE sink = 'big'})
  or diag($node->safe_psql('postgres', q{SELECT * FROM eventstream.dead_letters}));
is(scalar(@{ messages('big.kk') }), 2, 'the replayed dead letter is written');

# 5. a topic Kafka refuses (TOPIC_AUTHORIZATION_FAILED) disables the sink
mock('topic denied.kk 1');
mock('topic_error denied.kk 29');
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('denied', 'ks', 'kafka', '{"brokers": "$brokers",
	  "topic": "denied.kk"}');
});
$node->safe_psql('postgres', q{INSERT INTO kk VALUES (200003, 1)});
$node->poll_query_until('postgres',
	q{SELECT state = 'disabled' FROM eventstream.sinks WHERE name = 'denied'})
  or diag($node->safe_psql('postgres', q{SELECT * FROM eventstream.sinks WHERE name = 'denied'}));
like($node->safe_psql('postgres', q{SELECT last_error FROM eventstream.sinks WHERE name = 'denied'}),
	qr/authoriz/i, 'last_error says Kafka refused the topic');

$node->stop;
$mock_in .= "quit\n";
$mock->finish;
done_testing();
