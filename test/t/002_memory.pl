# Memory stays bounded on a 2-million-row transaction: the walsender's peak
# memory while decoding it must not grow with the transaction.  Without the
# per-change memory context reset, the events alone (~100 bytes each) would
# add some 200 MB.  Also checks that all 2M events arrive, one per line.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $rows = $ENV{ES_HUGE_ROWS} || 2_000_000;
my $node = es_node('memory');
my $connstr = $node->connstr('postgres');
my $out = $node->basedir . '/huge.jsonl';

$node->safe_psql('postgres', q{
	CREATE TABLE huge(id int PRIMARY KEY, v text, n numeric, ts timestamptz);
	SELECT 'init' FROM pg_create_logical_replication_slot('mem', 'pg_eventstream');
});

my ($stdout, $stderr) = ('', '');
my $recv = IPC::Run::start(
	[ 'pg_recvlogical', '-d', $connstr, '-S', 'mem', '--start', '-f', $out,
	  '-F', '0', '-o', 'include-transaction=1' ],
	'>', \$stdout, '2>', \$stderr);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_replication})
  or die 'pg_recvlogical did not connect';
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_replication});
my $before = proc_status_kb($pid, 'VmHWM');

$node->safe_psql('postgres', qq{
	INSERT INTO huge SELECT g, 'value ' || g, g * 1.5, now()
	  FROM generate_series(1, $rows) g});

# wait for the commit event, sampling the walsender's memory meanwhile
my $deadline = time + 10 * $PostgreSQL::Test::Utils::timeout_default;
my $peak_anon = 0;
while (time < $deadline)
{
	my $anon = proc_status_kb($pid, 'RssAnon') // 0;
	$peak_anon = $anon if $anon > $peak_anon;
	my $tail = `tail -c 300 $out 2>/dev/null`;
	last if $tail =~ /"op":"commit"[^\n]*\n\z/;
	select(undef, undef, undef, 0.2);
}
my $after = proc_status_kb($pid, 'VmHWM');
$recv->kill_kill;
$recv->finish;

my $lines = `wc -l < $out` + 0;
is($lines, $rows + 2, "all $rows events plus begin and commit arrived");
my $last = `tail -n 1 $out`;
like($last, qr/"op":"commit".*"event_count":$rows\}/, 'commit counts every event');

my $growth_mb = ($after - $before) / 1024;
my $bytes_out = -s $out;
diag(sprintf('decoded %d rows, %.0f MB of JSON; walsender peak memory grew %.1f MB (VmHWM %d -> %d kB), peak anonymous RSS %.1f MB',
	$rows, $bytes_out / 1048576, $growth_mb, $before, $after, $peak_anon / 1024));
cmp_ok($growth_mb, '<', 64,
	'walsender peak memory stays bounded (grows by less than 64 MB)');

# (the walsender may still be on its way out after the client ended)
$node->poll_query_until('postgres', q{SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'mem'})
  or die "the walsender did not release the slot";
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('mem')});
$node->stop;
done_testing();
