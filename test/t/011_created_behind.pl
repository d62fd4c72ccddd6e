# Streams and aggregates take exactly the changes that commit after the
# transaction that created them, even when the worker is behind that
# transaction and starts again before it gets there: pause the worker,
# write, create, write, terminate it, resume.  The stream must hold the
# second writes only; the aggregate (which counted the first writes when it
# was created) must equal its query.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = es_node('behind');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE facts (id int PRIMARY KEY, k int, v bigint);
	ALTER TABLE facts REPLICA IDENTITY FULL;
	INSERT INTO facts SELECT g, g % 5, g FROM generate_series(1, 1000) g;
	SELECT eventstream.sync();
});

$node->safe_psql('postgres', q{ALTER SYSTEM SET eventstream.enabled = off; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT state = 'paused' FROM eventstream.status})
  or die "the worker did not pause";

# first writes, then the definitions, then second writes
$node->safe_psql('postgres', q{
	INSERT INTO facts SELECT g, g % 5, g FROM generate_series(1001, 1500) g;
	UPDATE facts SET v = v + 1 WHERE id % 3 = 0;});
my $query = q{SELECT k % 3 AS m, count(*), sum(v), max(v) FROM facts GROUP BY 1};
$node->safe_psql('postgres', "SELECT eventstream.create_aggregate('behind', \$\$$query\$\$)");
$node->safe_psql('postgres', q{SELECT eventstream.create_stream('later', '{facts}')});
$node->safe_psql('postgres', q{
	INSERT INTO facts SELECT g, g % 5, g FROM generate_series(1501, 1600) g;
	DELETE FROM facts WHERE id % 7 = 0;});

my $old_pid = $node->safe_psql('postgres', q{SELECT pid FROM eventstream.status});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
$node->poll_query_until('postgres',
	qq{SELECT pid IS NOT NULL AND pid <> $old_pid FROM eventstream.status})
  or die "the worker did not start again";
$node->safe_psql('postgres', q{ALTER SYSTEM SET eventstream.enabled = on; SELECT pg_reload_conf()});
$node->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});

is($node->safe_psql('postgres', qq{
	SELECT (SELECT count(*) FROM (($query) EXCEPT ALL SELECT * FROM behind) a) || '/' ||
		   (SELECT count(*) FROM (SELECT * FROM behind EXCEPT ALL ($query)) b)}),
	'0/0', 'the aggregate counts nothing twice');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE op = 'insert') || ' inserts, ' ||
		   count(*) FILTER (WHERE op = 'delete') || ' deletes, ' ||
		   count(*) FILTER (WHERE op = 'update') || ' updates'
	FROM eventstream.read('later', 0, 100000)}),
	(100) . ' inserts, ' . $node->safe_psql('postgres',
		q{SELECT count(*) FROM generate_series(1, 1600) g WHERE g % 7 = 0}) . ' deletes, 0 updates',
	'the stream holds only the changes after its creation');

done_testing();
