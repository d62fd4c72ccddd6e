# Webhook sinks against a scripted receiver (test/webhook_receiver.py):
# every event delivered once acknowledged, in id order per key, signed as
# Standard Webhooks says; retries with the same webhook-id through an
# outage; a refused event in dead letters while other keys flow, then
# replayed; nothing lost across kill -9 of the postmaster; 410 disables;
# capture is not held back by a receiver that is down; a REVOKE stops a
# sink, which says why.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use JSON::PP;
use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $secret_b64 = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
my $secret = decode_base64($secret_b64);
my $root = $ENV{ES_ROOT} // '.';

my $node = es_node('hooks');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE w (k int PRIMARY KEY, v int NOT NULL);
	SELECT eventstream.create_stream('ws', '{w}');
});

my $dir = PostgreSQL::Test::Utils::tempdir;
my ($port_file, $log_file, $control) = ("$dir/port", "$dir/log", "$dir/control");
sub control { my ($json) = @_; open my $f, '>', "$control.tmp" or die; print $f $json; close $f; rename "$control.tmp", $control or die; }
control('{}');
my $receiver = IPC::Run::start([ 'python3', "$root/test/webhook_receiver.py",
	$port_file, $log_file, $control ]);
# (stopped however the test ends)
END { local $?; $receiver->kill_kill if $receiver; }
my $deadline = time + 30;
sleep 0.1 until -e $port_file || time > $deadline;
my $port = slurp_file($port_file);
ok($port =~ /^\d+$/, 'the receiver listens');

$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('hook', 'ws', 'webhook', '{
	  "url": "http://127.0.0.1:$port/hook", "secret": "whsec_$secret_b64",
	  "batch_size": 5, "concurrency": 4, "max_attempts": 4,
	  "retry_schedule": ["100 ms", "200 ms", "300 ms"], "headers": {"X-Team": "qa"}}');
});

# the requests so far, decoded
sub requests
{
	my @r;
	return \@r unless -e $log_file;
	open my $fh, '<', $log_file or die;
	while (my $line = <$fh>)
	{
		last unless $line =~ /\n\z/;
		my $req = decode_json($line);
		my $doc = decode_json($req->{body});
		$req->{events} = ref $doc eq 'ARRAY' ? $doc : [$doc];
		push @r, $req;
	}
	return \@r;
}

# event ids acknowledged (2xx) so far
sub acked
{
	my %ids;
	for my $req (@{ requests() })
	{
		next unless $req->{status} < 300;
		$ids{ $_->{id} }++ for grep { $_->{stream} eq 'ws' } @{ $req->{events} };
	}
	return \%ids;
}

sub wait_acked
{
	my ($last, $what) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my $ids = acked();
		return 1 unless grep { !$ids->{$_} } 1 .. $last;
		select(undef, undef, undef, 0.1);
	}
	fail("timed out waiting for $what");
	return 0;
}

sub last_id
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(max(id), 0) FROM eventstream.read('ws', 0, 1000000)});
}

# 1. a workload: 50 keys, each changed three more times
$node->safe_psql('postgres', 'INSERT INTO w SELECT g, 0 FROM generate_series(1, 50) g');
$node->safe_psql('postgres', "UPDATE w SET v = v + 1 WHERE k = $_") for map { (($_ - 1) % 50) + 1 } 1 .. 150;
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
my $last = last_id();
is($last, 200, '200 events in the stream');
wait_acked($last, 'the first 200 events');

my $reqs = requests();
my %pos;
my ($order_ok, $sig_ok, $ids_ok) = (1, 1, 1);
for my $req (@$reqs)
{
	my $h = { map { lc($_) => $req->{headers}{$_} } keys %{ $req->{headers} } };
	my $expect = 'v1,' . encode_base64(hmac_sha256("$h->{'webhook-id'}.$h->{'webhook-timestamp'}.$req->{body}", $secret), '');
	$sig_ok = 0 unless ($h->{'webhook-signature'} // '') eq $expect;
	$ids_ok = 0 unless ($h->{'webhook-id'} // '') =~ /^msg_\d+_(\d+)_(\d+)$/
	  && $1 == $req->{events}[0]{id} && $2 == $req->{events}[-1]{id};
	next unless $req->{status} < 300;
	for my $e (grep { $_->{stream} eq 'ws' } @{ $req->{events} })
	{
		my $key = $e->{key}{k};
		$order_ok = 0 if defined $pos{$key} && $e->{id} <= $pos{$key};
		$pos{$key} = $e->{id};
	}
}
ok($sig_ok, 'every request is signed with the secret (Standard Webhooks)');

ok($ids_ok, 'webhook-id names the sink and the first and last event');
ok($order_ok, 'each key\'s events arrive in id order');
is($node->safe_psql('postgres', q{SELECT latency_p50 > '0' AND latency_p99 >= latency_p50
	FROM eventstream.sinks WHERE name = 'hook'}), 't', 'eventstream.sinks shows recent latency percentiles');
is($reqs->[0]{headers}{'X-Team'} // $reqs->[0]{headers}{'x-team'}, 'qa', 'extra headers are sent');
my $ev = $reqs->[0]{events}[0];
is(join(',', sort keys %$ev),
	'commit_lsn,commit_time,id,key,lsn,new,old,op,schema_name,seq,stream,table_name,xid',
	'an event carries the columns of eventstream.event');

# 1b. partitions without events never hold the others back: one key,
# many partitions, batch size 1 (the read would stall on the idle ones)
$node->safe_psql('postgres', qq{
	CREATE TABLE one (k int PRIMARY KEY, v int NOT NULL);
	INSERT INTO one VALUES (1, 0);
	SELECT eventstream.create_stream('ones', '{one}');
	SELECT eventstream.create_sink('ones', 'ones', 'webhook', '{
	  "url": "http://127.0.0.1:$port/ones", "concurrency": 8}');
});
$node->safe_psql('postgres', 'UPDATE one SET v = v + 1') for 1 .. 60;
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$node->poll_query_until('postgres',
	q{SELECT position = (SELECT max(id) FROM eventstream.read('ones', 0, 1000)) FROM eventstream.sinks WHERE name = 'ones'})
  or die 'one key did not get through';
pass('one key among eight partitions: all of its 60 events delivered');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('ones')});

# 2. an outage: 503s, then the receiver comes back; retries carry the
# same webhook-id and body
control('{"fail_first": 6, "fail_status": 503}');
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k <= 20');
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$last = last_id();
wait_acked($last, 'the events sent during the outage');
my %bodies;
my $retried = 0;
my $same = 1;
for my $req (@{ requests() })
{
	my $id = $req->{headers}{'webhook-id'} // $req->{headers}{'Webhook-Id'};
	if (exists $bodies{$id})
	{
		$retried++;
		$same = 0 if $bodies{$id} ne $req->{body};
	}
	$bodies{$id} = $req->{body};
}
ok($retried >= 6, "failed requests were retried ($retried retries)");
ok($same, 'a retry sends the same body under the same webhook-id');

# 3. one event refused for good: its batches are split until it is alone,
# it reaches dead letters after max_attempts, and the others flow
my $refused = $last + 1;
control(qq({"refuse_ids": [$refused]}));
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 7');
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k <> 7');
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 7');
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM eventstream.dead_letters WHERE $refused = ANY (event_ids)})
  or die 'no dead letter';
$last = last_id();
my $ids = acked();
ok(!(grep { !$ids->{$_} } ($refused + 1) .. $last), 'the other keys were delivered meanwhile');
ok(!$ids->{$refused}, 'the refused event was not acknowledged');
is($node->safe_psql('postgres',
	q{SELECT attempts, last_status, event_ids FROM eventstream.dead_letters}), "4|400|{$refused}",
	'a refused batch was split: the refused event alone went to dead letters after max_attempts');
control('{}');
is($node->safe_psql('postgres', q{SELECT eventstream.replay_dead_letters('hook')}), '1',
	'one dead letter queued again');
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM eventstream.dead_letters})
  or die 'replay did not finish';
is(acked()->{$refused}, 1, 'the replayed event was delivered, once');

# 4. three kill -9 of the postmaster while delivering under a pgbench
# workload: nothing lost, and a duplicate only under the same webhook-id
control('{"delay": 0.02}');
my $wscript = "$dir/work.sql";
open my $wf, '>', $wscript or die;
print $wf "\\set k random(1, 50)\nUPDATE w SET v = v + 1 WHERE k = :k;\n";
close $wf;
for my $round (1 .. 3)
{
	my $bench = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-T', '3', '-R', '300', '-f', $wscript,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', "$dir/pgbench.log", '2>', "$dir/pgbench.err");
	sleep 1.5;
	$node->kill9;
	$bench->finish;
	es_restart_after_kill($node);
}
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1');
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
control('{}');
$last = last_id();
wait_acked($last, 'every event after kill -9');
my %seen_in;
my $dup_ok = 1;
for my $req (@{ requests() })
{
	next unless $req->{status} < 300;
	my $id = $req->{headers}{'webhook-id'} // $req->{headers}{'Webhook-Id'};
	for my $e (grep { $_->{stream} eq 'ws' } @{ $req->{events} })
	{
		$dup_ok = 0 if exists $seen_in{ $e->{id} } && $seen_in{ $e->{id} } ne $id;
		$seen_in{ $e->{id} } = $id;
	}
}
ok($dup_ok, 'an event acknowledged twice came under the same webhook-id');

# 5. 410 Gone disables the sink, with the reason
control('{"status": 410}');
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 1');
$node->poll_query_until('postgres', q{SELECT state = 'disabled' FROM eventstream.sinks})
  or die 'not disabled';
like($node->safe_psql('postgres', q{SELECT last_error FROM eventstream.sinks}),
	qr/410/, 'last_error says the receiver answered 410');

$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('hook')});

# 6. capture does not wait for a receiver that is down: with every request
# failing, a thousand changes are still in the log within sync()'s time
control('{"status": 503}');
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('down', 'ws', 'webhook', '{"url": "http://127.0.0.1:$port/down"}');
});
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1') for 1 .. 20;
my $t0 = time;
$node->safe_psql('postgres', q{SELECT eventstream.sync('10 s')});
ok(time - $t0 < 10, 'capture kept up while the receiver refused everything');
like($node->safe_psql('postgres', q{SELECT state || ' ' || last_error FROM eventstream.sinks WHERE name = 'down'}),
	qr/retrying HTTP 503/, 'the sink says it is retrying, and why');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('down')});

# 7. a sink delivers with its owner's rights: after REVOKE it stops, and
# says why
control('{}');
$node->safe_psql('postgres', qq{
	CREATE ROLE hooker;
	GRANT SELECT ON w TO hooker;
	GRANT USAGE ON SCHEMA eventstream TO hooker;
	GRANT EXECUTE ON FUNCTION eventstream.create_sink(text, text, text, jsonb) TO hooker;
	SET ROLE hooker;
	SELECT eventstream.create_sink('theirs', 'ws', 'webhook', '{"url": "http://127.0.0.1:$port/theirs"}');
	RESET ROLE;
});
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 1');
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
my $at = last_id();
$node->poll_query_until('postgres', qq{SELECT position >= $at FROM eventstream.sinks WHERE name = 'theirs'})
  or die 'the owner\'s sink delivered nothing';
$node->safe_psql('postgres', 'REVOKE SELECT ON w FROM hooker');
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 2');
$node->poll_query_until('postgres',
	q{SELECT last_error LIKE '%may no longer read table%' FROM eventstream.sinks WHERE name = 'theirs'})
  or die 'no last_error after REVOKE';
is($node->safe_psql('postgres', qq{SELECT position FROM eventstream.sinks WHERE name = 'theirs'}), $at,
	'after REVOKE the sink delivers nothing more, and last_error says why');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('theirs')});


# the requests logged from index FROM on (the log is read once)
sub requests_since
{
	my ($from) = @_;
	my $all = requests();
	return [ @$all[ $from .. $#$all ] ];
}

# 8. a rotating secret: two signatures, the new secret's and the old's
my $old_b64 = 'c2VjcmV0LWJlaW5nLXJvdGF0ZWQtb3V0LWF0LW9uY2U=';
control('{}');
my $from = scalar(@{ requests() });
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('rot', 'ws', 'webhook', '{"url": "http://127.0.0.1:$port/rot",
	  "secret": "whsec_$secret_b64", "previous_secret": "whsec_$old_b64"}');
});
like($node->safe_psql('postgres', q{SELECT options::text FROM eventstream.sinks WHERE name = 'rot'}),
	qr/"previous_secret": "\*+".*"secret": "\*+"|"secret": "\*+".*"previous_secret": "\*+"/,
	'both secrets are masked in eventstream.sinks');
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 3');
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$at = last_id();
$node->poll_query_until('postgres', qq{SELECT position >= $at FROM eventstream.sinks WHERE name = 'rot'})
  or die 'rot delivered nothing';
my ($req) = grep { $_->{status} < 300 } @{ requests_since($from) };
my $h = { map { lc($_) => $req->{headers}{$_} } keys %{ $req->{headers} } };
my $signed = "$h->{'webhook-id'}.$h->{'webhook-timestamp'}.$req->{body}";
is($h->{'webhook-signature'},
	'v1,' . encode_base64(hmac_sha256($signed, $secret), '') . ' v1,'
	  . encode_base64(hmac_sha256($signed, decode_base64($old_b64)), ''),
	'while a secret rotates, requests carry both signatures, space-separated');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('rot')});

# 9. Retry-After as an HTTP date is honoured (the schedule would wait a minute)
control('{"fail_first": 1, "fail_status": 503, "retry_after_date": 2}');
$from = scalar(@{ requests() });
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('later', 'ws', 'webhook', '{"url": "http://127.0.0.1:$port/later",
	  "retry_schedule": ["60 s"]}');
});
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 4');
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$at = last_id();
$t0 = time;
$node->poll_query_until('postgres', qq{SELECT position >= $at FROM eventstream.sinks WHERE name = 'later'})
  or die 'later delivered nothing';
cmp_ok(time - $t0, '<', 30, 'the retry came when the HTTP-date Retry-After said, not after the schedule\'s minute');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('later')});

# 10. max_age: a batch failing longer than it goes to dead letters before
# max_attempts
control('{"status": 503}');
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('aged', 'ws', 'webhook', '{"url": "http://127.0.0.1:$port/aged",
	  "retry_schedule": ["200 ms"], "max_attempts": 100, "max_age": "2 s"}');
});
$node->safe_psql('postgres', 'UPDATE w SET v = v + 1 WHERE k = 5');
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM eventstream.dead_letters WHERE sink = 'aged'})
  or die 'no dead letter by max_age';
cmp_ok($node->safe_psql('postgres', q{SELECT attempts FROM eventstream.dead_letters WHERE sink = 'aged'}),
	'<', 100, 'max_age sent the batch to dead letters before max_attempts');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('aged')});

# 11. max_bytes: requests stay under it; an event larger on its own goes to
# dead letters with the reason, and its partition goes on
control('{}');
$node->safe_psql('postgres', qq{
	CREATE TABLE wb (k int PRIMARY KEY, t text);
	SELECT eventstream.create_stream('wbs', '{wb}');
	SELECT eventstream.create_sink('small', 'wbs', 'webhook', '{"url": "http://127.0.0.1:$port/small",
	  "batch_size": 50, "max_bytes": 2048}');
});
$from = scalar(@{ requests() });
$node->safe_psql('postgres', q{
	INSERT INTO wb SELECT g, repeat('s', 50) FROM generate_series(1, 20) g;
	INSERT INTO wb VALUES (21, repeat('L', 5000));
	INSERT INTO wb SELECT g, repeat('s', 50) FROM generate_series(22, 30) g;
});
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
my $wlast = $node->safe_psql('postgres', q{SELECT max(id) FROM eventstream.read('wbs', 0, 1000)});
$node->poll_query_until('postgres', qq{SELECT position >= $wlast FROM eventstream.sinks WHERE name = 'small'})
  or die 'small delivered nothing';
my @small = grep { $_->{status} < 300 && ($_->{events}[0]{stream} // '') eq 'wbs' }
  @{ requests_since($from) };
my %got = map { ($_->{key}{k} => 1) } map { @{ $_->{events} } } @small;
is(join(',', sort { $a <=> $b } keys %got), join(',', 1 .. 20, 22 .. 30),
	'every event but the oversized one delivered');
ok(!grep({ length($_->{body}) > 2048 } @small) && @small > 1,
	'requests stay within max_bytes (' . scalar(@small) . ' requests)');
like($node->safe_psql('postgres', q{SELECT last_error FROM eventstream.dead_letters WHERE sink = 'small'}),
	qr/more than max_bytes/, 'the oversized event is a dead letter, with the reason');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('small')});

# 12. gzip: compressed bodies, signed as JSON
$node->safe_psql('postgres', qq{
	SELECT eventstream.create_sink('zipped', 'wbs', 'webhook', '{"url": "http://127.0.0.1:$port/zipped",
	  "batch_size": 100, "gzip": true, "secret": "whsec_$secret_b64"}');
});
$from = scalar(@{ requests() });
$node->safe_psql('postgres', q{INSERT INTO wb SELECT g, repeat('z', 50) FROM generate_series(100, 140) g});
$node->safe_psql('postgres', 'SELECT eventstream.sync()');
$wlast = $node->safe_psql('postgres', q{SELECT max(id) FROM eventstream.read('wbs', 0, 1000)});
$node->poll_query_until('postgres', qq{SELECT position >= $wlast FROM eventstream.sinks WHERE name = 'zipped'})
  or die 'zipped delivered nothing';
my @zipped = grep { $_->{status} < 300 } @{ requests_since($from) };
my $zh = { map { lc($_) => $zipped[0]{headers}{$_} } keys %{ $zipped[0]{headers} } };
is($zh->{'content-encoding'}, 'gzip', 'the body is sent gzip-compressed');
is(scalar(map { @{ $_->{events} } } @zipped), 41, 'every event in the compressed bodies');
is($zh->{'webhook-signature'},
	'v1,' . encode_base64(hmac_sha256("$zh->{'webhook-id'}.$zh->{'webhook-timestamp'}.$zipped[0]{body}", $secret), ''),
	'the signature is of the JSON, before compression');
$node->safe_psql('postgres', q{SELECT eventstream.drop_sink('zipped')});

$node->stop;
done_testing();
