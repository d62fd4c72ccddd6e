# The worker flushes WAL itself (asynchronous commits, and a record that
# straddles the flushed end), and must never ask for more than is written.
# When the WAL ends exactly at a page boundary, the insert position that
# PostgreSQL reports is after the next page's header, which is not written
# yet; flushing up to it fails ("xlog flush request ... is not satisfied"),
# an ERROR that made the worker exit and restart a second later, holding
# every event back meanwhile.  Here logical messages (no transaction, so no
# commit flushes them) bring the end of the WAL to a page boundary, left
# unflushed, while the worker has caught up and looks for WAL to flush.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = PostgreSQL::Test::Cluster->new('self_flush');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', EventstreamTest::server_conf());
# the WAL writer would flush the finished page itself: keep it away
$node->append_conf('postgresql.conf', qq{
wal_writer_delay = 10s
autovacuum = off
checkpoint_timeout = 1h
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT eventstream.create_stream('t', '{t}');
	INSERT INTO t VALUES (1);
	SELECT eventstream.sync('60 s');
});
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_eventstream worker'});

# where the WAL ends within its page, and a message of a given length
sub page_offset
{
	return $node->safe_psql('postgres',
		q{SELECT ((pg_current_wal_insert_lsn() - '0/0') % 8192)::int});
}
sub emit
{
	my ($len) = @_;
	$node->safe_psql('postgres', qq{SELECT 'm' FROM pg_logical_emit_message(false, 'filler', repeat('x', $len))});
}

my $at_boundary = 0;
for my $try (1 .. 10)
{
	my $off = page_offset();
	if ($off == 24 || $off == 40)
	{
		$at_boundary = 1;
		last;
	}
	# a message of 1000 bytes, measured, tells a message's overhead
	emit(1000) if 8192 - $off < 3000;
	$off = page_offset();
	emit(1000);
	my $after = page_offset();
	next if $after < $off;	# crossed a page: again
	my $overhead = $after - $off - 1000;
	emit(8192 - $after - $overhead);
}
ok($at_boundary, 'the WAL ends at a page boundary');

# the worker has a round with unflushed WAL (at most every 10 ms); a few
# seconds are dozens of them
sleep(3);
ok(!$node->log_contains('is not satisfied'), 'the worker asked to flush only WAL that was written');
is($node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_eventstream worker'}),
	$pid, 'the worker did not exit');

# and it goes on capturing
$node->safe_psql('postgres', q{INSERT INTO t VALUES (2); SELECT eventstream.sync('60 s')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM eventstream.read('t')}), '2',
	'both rows are in the stream');

done_testing();
