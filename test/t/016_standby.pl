# Standbys and failover.  The event log and consumers' positions reach a
# streaming standby, which reads the log (poll, which records delivery,
# refuses: read-only).  A standby promoted under a pgbench workload whose
# primary's worker was behind gets a new slot (PostgreSQL 15 keeps no
# logical slots on standbys): the changes in between are never decoded, so
# the worker records a gap -- in eventstream.gaps and as a "gap" event in
# the stream, after what was captured and before what follows -- and
# eventstream.backfill() closes it: every row is then in the stream.  A
# switchover with capture caught up records no gap.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 'logical');
$primary->append_conf('postgresql.conf', EventstreamTest::server_conf());
$primary->append_conf('postgresql.conf', "autovacuum = off\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE t (id bigserial PRIMARY KEY, v int NOT NULL);
	SELECT eventstream.create_stream('s', '{public.t}');
	SELECT eventstream.create_consumer('c', 's');
	INSERT INTO t (v) SELECT g FROM generate_series(1, 100) g;
	SELECT eventstream.sync();
	SELECT count(*) FROM eventstream.poll('c', 30);
	SELECT eventstream.commit('c', 30);
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# a planned switchover first: capture caught up, so nothing is missed
$primary->safe_psql('postgres', q{INSERT INTO t (v) VALUES (0); SELECT eventstream.sync()});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM eventstream.read('s', 0, 100000)}),
	'101', 'a hot standby reads the log');
is($standby->safe_psql('postgres', q{SELECT position FROM eventstream.consumers WHERE name = 'c'}),
	'30', "the consumer's position reaches the standby");
my ($ret, $out, $err) = $standby->psql('postgres', q{SELECT * FROM eventstream.poll('c', 10)});
like($err, qr/poll\(\) cannot run on a standby.*HINT:  Poll the primary; on a standby, read the log with eventstream.read\(\)/s,
	'poll on a standby says why it cannot, and what to do');

$primary->stop;
$standby->promote;
# (a change committed before the new slot exists is never decoded: that
# is the gap of the failover below)
$standby->poll_query_until('postgres', q{SELECT slot_name IS NOT NULL FROM eventstream.status})
  or die "the promoted server's worker made no slot";
$standby->safe_psql('postgres', q{INSERT INTO t (v) VALUES (-1)});
$standby->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});
is($standby->safe_psql('postgres', q{SELECT count(*) FROM eventstream.gaps}), '0',
	'a switchover with capture caught up records no gap');
is($standby->safe_psql('postgres', q{SELECT max(id) FROM eventstream.event_log WHERE op = 'insert'}),
	'102', 'the promoted server captures on, ids following the old primary');

# now a failover with capture behind: the promoted server is the primary,
# a new standby follows it
my $old = $standby;
$old->backup('b2');
my $next = PostgreSQL::Test::Cluster->new('next');
$next->init_from_backup($old, 'b2', has_streaming => 1);
$next->start;

my $script = $old->basedir . '/insert.sql';
open my $fh, '>', $script or die;
print $fh "INSERT INTO t (v) VALUES (1);\n";
close $fh;
my ($pout, $perr) = ('', '');
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-T', '60', '-f', $script, $old->connstr('postgres') ],
	'>', \$pout, '2>', \$perr);
$old->poll_query_until('postgres', 'SELECT count(*) >= 400 FROM t') or die "no writes";
$old->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});
$old->safe_psql('postgres', q{ALTER SYSTEM SET eventstream.enabled = off; SELECT pg_reload_conf()});
$old->poll_query_until('postgres', q{SELECT state = 'paused' FROM eventstream.status})
  or die "the worker did not pause";
my $paused_at = $old->safe_psql('postgres', 'SELECT count(*) FROM t');
$old->poll_query_until('postgres', "SELECT count(*) >= $paused_at + 300 FROM t") or die "no writes";
$old->wait_for_catchup($next);
$old->stop('immediate');
$pgbench->finish;
$next->promote;

# the gap, recorded once
$next->poll_query_until('postgres', q{SELECT count(*) = 1 FROM eventstream.gaps})
  or die "no gap was recorded";
is($next->safe_psql('postgres', q{SELECT from_lsn < to_lsn AND reason = 'new slot' FROM eventstream.gaps}),
	't', 'the gap is the WAL between what was applied and the new slot');
ok($next->log_contains('capture missed the changes committed from'), 'the worker warns about it');
$next->safe_psql('postgres', q{INSERT INTO t (v) VALUES (2); SELECT eventstream.sync('60 s')});
my $last_before = $next->safe_psql('postgres',
	q{SELECT max(id) FROM eventstream.event_log WHERE op = 'insert' AND (key->>'id')::bigint < } . ($paused_at + 1));
is($next->safe_psql('postgres', q{
	SELECT string_agg(op, ',' ORDER BY id) FROM eventstream.event_log WHERE id > } . $last_before),
	'gap,insert', 'the gap event comes after what was captured, before what follows');
is($next->safe_psql('postgres', q{
	SELECT (new->>'from_lsn')::pg_lsn = from_lsn AND (new->>'to_lsn')::pg_lsn = to_lsn
	FROM eventstream.event_log, eventstream.gaps WHERE op = 'gap'}),
	't', 'the gap event names the range');
ok($next->safe_psql('postgres', q{
	SELECT count(*) FROM t WHERE NOT EXISTS (SELECT 1 FROM eventstream.event_log l
		WHERE l.op = 'insert' AND (l.key->>'id')::bigint = t.id)}) > 0,
	'rows written while capture was behind are missing from the stream');

# backfill closes it
is($next->safe_psql('postgres', q{SELECT eventstream.backfill('s')}), '1', 'backfill of the stream');
$next->poll_query_until('postgres', q{SELECT bool_and(state = 'done') FROM eventstream.backfills})
  or die "the backfill did not finish";
$next->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});
is($next->safe_psql('postgres', q{
	SELECT count(*) FROM t WHERE NOT EXISTS (SELECT 1 FROM eventstream.event_log l
		WHERE l.op IN ('insert', 'snapshot') AND (l.key->>'id')::bigint = t.id
		  AND l.id > (SELECT id FROM eventstream.event_log WHERE op = 'gap'))}),
	'0', 'after the backfill every row is in the stream after the gap');
my ($r2, $o2, $e2) = $next->psql('postgres', q{SELECT eventstream.backfill('nope')});
like($e2, qr/stream "nope" does not exist/, 'backfill of an unknown stream is an error');

done_testing();
