# pg_dump and pg_restore of a database with streams, consumers, an
# aggregate and a sink, into a new database of the same cluster (custom
# format) and of a new cluster (plain SQL through psql, ON_ERROR_STOP),
# whose roles have other OIDs.  Both restore without an error; the events,
# positions and definitions come back, owned by the same role names; the
# restore's own loading of the tables is not captured; finish_restore()
# marks the gap and starts capture and the aggregate; the sink stays paused.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $src = es_node('dump_src');
$src->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE DATABASE shop OWNER alice;
});
$src->safe_psql('shop', q{
	CREATE EXTENSION pg_eventstream;
	GRANT USAGE ON SCHEMA eventstream TO alice;
	GRANT EXECUTE ON FUNCTION eventstream.create_sink(text, text, text, jsonb) TO alice;
	SET ROLE alice;
	CREATE TABLE orders (id int PRIMARY KEY, region text, amount numeric);
	ALTER TABLE orders REPLICA IDENTITY FULL;
	SET eventstream.segment_size = 50;
	SELECT eventstream.create_stream('orders', '{public.orders}');
	SELECT eventstream.create_consumer('billing', 'orders');
	SELECT eventstream.create_consumer('mailer', 'orders', partitions => 4);
	SELECT eventstream.create_aggregate('per_region',
		$$SELECT region, count(*) AS n, sum(amount) AS total FROM public.orders GROUP BY region$$);
	INSERT INTO orders SELECT g, 'r' || g % 3, g FROM generate_series(1, 120) g;
	UPDATE orders SET amount = amount * 2 WHERE id % 4 = 0;
	DELETE FROM orders WHERE id % 10 = 0;
	SELECT eventstream.sync();
	SELECT count(*) FROM eventstream.poll('billing', 40);
	SELECT eventstream.commit('billing', 40);
	SELECT eventstream.create_sink('hooks', 'orders', 'webhook',
		'{"url": "http://127.0.0.1:9/events", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}');
	SELECT eventstream.pause_sink('hooks');
	RESET ROLE;
	SELECT eventstream.sync();
});

# what must come back: the log, the positions, the definitions
my $log_q = q{SELECT md5(string_agg(format('%s/%s/%s/%s/%s/%s/%s', stream_id, id, op, relid::text, key, old, new), ',' ORDER BY stream_id, id))
	FROM eventstream.event_log};
my $defs_q = q{SELECT string_agg(x, ' | ' ORDER BY x) FROM (
	SELECT format('stream %s %s %s', name, owner, named_tables) AS x FROM eventstream.stream_catalog
	UNION ALL SELECT format('consumer %s %s %s %s', name, owner, committed, partitions) FROM eventstream.consumer_catalog
	UNION ALL SELECT format('aggregate %s %s %s %s', view_relid, mat_relid, source_relid, owner) FROM eventstream.aggregate_catalog
	UNION ALL SELECT format('sink %s %s %s', name, owner, options->>'url') FROM eventstream.sink_catalog) d};
my $log = $src->safe_psql('shop', $log_q);
my $defs = $src->safe_psql('shop', $defs_q);
my $events = $src->safe_psql('shop', 'SELECT count(*) FROM eventstream.event_log');
ok($src->safe_psql('shop', q{SELECT count(*) FROM eventstream._segments()}) >= 4,
	'the log has several segments');

my $dir = $src->basedir;
$src->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/shop.dump", $src->connstr('shop') ],
	'pg_dump -Fc');
$src->command_ok([ 'pg_dump', '-f', "$dir/shop.sql", $src->connstr('shop') ],
	'pg_dump plain');

# a new cluster with the roles made in another order (other OIDs)
my $dst = es_node('dump_dst');
$dst->safe_psql('postgres', q{
	CREATE ROLE bob; CREATE ROLE carol; CREATE ROLE alice LOGIN;
	CREATE DATABASE shop OWNER alice;
});
$dst->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$dir/shop.sql",
	$dst->connstr('shop') ], 'the plain dump restores into a new cluster with no error');
$src->safe_psql('postgres', 'CREATE DATABASE shop2 OWNER alice');
$src->command_ok([ 'pg_restore', '--exit-on-error', '-d', $src->connstr('shop2'), "$dir/shop.dump" ],
	'the custom dump restores into a new database with no error');

for my $t ([ $dst, 'shop', 'new cluster' ], [ $src, 'shop2', 'same cluster' ])
{
	my ($node, $db, $where) = @$t;

	is($node->safe_psql($db, $log_q), $log, "$where: the event log comes back");
	is($node->safe_psql($db, $defs_q), $defs,
		"$where: definitions, positions and owners come back by name");

	# the restore loaded the table: nothing of it may become events
	$node->safe_psql($db, q{SELECT eventstream.sync()});
	is($node->safe_psql($db, 'SELECT count(*) FROM eventstream.event_log'), $events,
		"$where: the restore's loading is not captured");
	is($node->safe_psql($db, q{
		SELECT string_agg(format('%s %s %s', name, active, restored), ',') FROM eventstream.stream_catalog}),
		'orders f t', "$where: the stream waits for finish_restore");
	is($node->safe_psql($db, q{SELECT state || ': ' || last_error FROM eventstream.sink_catalog}),
		'paused: restored from a dump: resume_sink() delivers from its position',
		"$where: the sink is paused");

	is($node->safe_psql($db, q{SELECT string_agg(kind || ' ' || name, ', ') FROM eventstream.finish_restore()}),
		'stream orders, aggregate public.per_region, sink hooks', "$where: finish_restore starts them");
	$node->safe_psql($db, q{
		SET ROLE alice;
		INSERT INTO orders VALUES (500, 'r9', 5), (501, 'r1', 7);
		UPDATE orders SET amount = amount + 1 WHERE id < 20;
		DELETE FROM orders WHERE id = 501;
		RESET ROLE;
		SELECT eventstream.sync();
	});
	is($node->safe_psql($db, q{
		SELECT string_agg(op || ' ' || coalesce(key->>'id', '-'), ',' ORDER BY id)
		FROM eventstream.event_log WHERE id > } . $events . q{ AND op <> 'update'}),
		'gap -,insert 500,insert 501,delete 501',
		"$where: a gap event, then the changes after the restore");
	is($node->safe_psql($db, q{
		SELECT count(*) FROM eventstream.event_log WHERE op = 'update' AND id > } . $events),
		'18', "$where: every update after the restore, once");
	is($node->safe_psql($db, q{
		SELECT (SELECT count(*) FROM (SELECT * FROM per_region EXCEPT
			SELECT region, count(*), sum(amount) FROM orders GROUP BY region) a) +
		       (SELECT count(*) FROM (SELECT region, count(*), sum(amount) FROM orders GROUP BY region
			EXCEPT SELECT * FROM per_region) b)}),
		'0', "$where: the aggregate equals its query");
	is($node->safe_psql($db, q{SET ROLE alice; SELECT min(id) FROM eventstream.poll('billing', 5)}),
		'41', "$where: the consumer resumes after its committed position");
	# new definitions do not collide with restored ids
	$node->safe_psql($db, q{SELECT eventstream.create_stream('more', '{public.orders}')});
	is($node->safe_psql($db, q{SELECT id FROM eventstream.stream_catalog WHERE name = 'more'}),
		'2', "$where: the catalogs' sequences come back");
	is($node->safe_psql($db, q{SELECT count(*) FROM eventstream.finish_restore()}),
		'1', "$where: finish_restore again only lists the paused sink");
}

done_testing();
