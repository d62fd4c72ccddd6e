# Readers during apply: while the worker writes batches, other sessions
# keep scanning the log and the backfill progress.  Every committed row
# must be in the stream afterwards, exactly once.
#
# This catches a worker whose running transactions other backends' snapshots
# leave out (as they do for a process marked as doing logical decoding): a
# reader would then take a batch being applied for aborted and mark its rows
# invisible for good.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = es_node('readers');
$node->append_conf('postgresql.conf', "eventstream.batch_size = 20\n");
$node->restart;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL);
	SELECT eventstream.create_stream('items', '{items}');
});

my $dir = $node->basedir;
open my $w, '>', "$dir/write.sql" or die;
print $w "INSERT INTO items (v) SELECT g FROM generate_series(1, 5) g;\n";
close $w;
open my $r, '>', "$dir/read.sql" or die;
print $r "SELECT count(*) FROM eventstream.event_log;\n";
print $r "SELECT count(*) FROM eventstream.backfill_progress;\n";
close $r;

my $readers = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '1', '-T', '8', '-f', "$dir/read.sql", $node->connstr('postgres') ],
	'>', \my $rout, '2>', \my $rerr);
my $writers = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '1', '-t', '3000', '-f', "$dir/write.sql", $node->connstr('postgres') ],
	'>', \my $wout, '2>', \my $werr);
$writers->finish;
$readers->finish;

$node->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM items}), '15000',
	'the writers committed every row');
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT key) || ' ' || count(*) FROM eventstream.read('items', 0, 1000000)}),
	'15000 15000', 'every committed row is in the stream, once');
is($node->safe_psql('postgres', q{
	SELECT max(id) - min(id) + 1 = count(*) FROM eventstream.read('items', 0, 1000000)}),
	't', 'ids are dense');

done_testing();
