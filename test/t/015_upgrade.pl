# ALTER EXTENSION pg_eventstream UPDATE from 0.1.0 (its install script, as
# released) on a live database: made and filled under 0.1.0, updated to
# 0.2.0 while writers run, then to 0.3.0, 0.4.0 and 0.5.0 (the updates as
# released or built).  Every committed change is in the stream exactly once,
# positions and the aggregate are kept, the worker carries on, aggregates a
# catalog cannot keep yet are refused until the update that brings them, and
# the updated catalog equals a fresh 0.5.0 one.  Then a catalog version
# the library does not know: the SQL functions refuse it with a hint, the
# worker waits (capturing nothing, losing nothing) until it is known again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = es_node('upgrade');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream VERSION '0.1.0';
	CREATE TABLE rows (id bigserial PRIMARY KEY, k int NOT NULL, v int NOT NULL);
	ALTER TABLE rows REPLICA IDENTITY FULL;
	SET eventstream.segment_size = 100;
	SELECT eventstream.create_stream('hist', '{public.rows}');
	SELECT eventstream.create_consumer('reader', 'hist');
	SELECT eventstream.create_aggregate('per_k', $$SELECT k, count(*) AS n, sum(v) AS s FROM public.rows GROUP BY k$$);
	INSERT INTO rows (k, v) SELECT g % 7, 1 FROM generate_series(1, 300) g;
	SELECT eventstream.sync();
	SELECT count(*) FROM eventstream.poll('reader', 50);
	SELECT eventstream.commit('reader', 50);
});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventstream'}),
	'0.1.0', 'made at 0.1.0');
my ($r0, $o0, $e0) = $node->psql('postgres',
	q{SELECT eventstream.create_aggregate('per_day', $$SELECT date_trunc('day', timestamptz '2026-01-01' + k * interval '1 day') AS d, sum(v::float8) FROM public.rows GROUP BY 1$$)});
like($e0, qr/this aggregate needs version 0\.2\.0 of the extension/,
	'an aggregate 0.1.0 cannot keep is refused with a hint to update');

# writers while the update runs: each transaction inserts one row and
# updates another
my $script = $node->basedir . '/workload.sql';
open my $fh, '>', $script or die;
print $fh <<'SQL';
\set k random(0, 6)
BEGIN;
INSERT INTO rows (k, v) VALUES (:k, 1);
UPDATE rows SET v = v + 1 WHERE id = (SELECT max(id) - 3 FROM rows);
COMMIT;
SQL
close $fh;
my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-T', '6', '-f', $script, $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres', 'SELECT count(*) >= 500 FROM rows')
  or die "the writers made no progress";
$node->safe_psql('postgres', q{ALTER EXTENSION pg_eventstream UPDATE TO '0.2.0'});
$pgbench->finish;
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventstream'}),
	'0.2.0', 'updated to 0.2.0 under writers');
$node->safe_psql('postgres', q{SELECT eventstream.create_aggregate('per_k_float', $$SELECT date_trunc('day', timestamptz '2026-01-01' + k * interval '1 day') AS d, sum(v::float8) AS s FROM public.rows GROUP BY 1$$)});
my $distinct = q{SELECT eventstream.create_aggregate('per_k_distinct', $$SELECT k, count(DISTINCT v) AS dv FROM public.rows GROUP BY k$$)};
($r0, $o0, $e0) = $node->psql('postgres', $distinct);
like($e0, qr/this aggregate needs version 0\.3\.0 of the extension/,
	'an aggregate 0.2.0 cannot keep is refused with a hint to update');
$node->safe_psql('postgres', q{ALTER EXTENSION pg_eventstream UPDATE TO '0.3.0'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventstream'}),
	'0.3.0', 'updated to 0.3.0');
$node->safe_psql('postgres', $distinct);
$node->safe_psql('postgres', q{ALTER EXTENSION pg_eventstream UPDATE TO '0.4.0'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventstream'}),
	'0.4.0', 'updated to 0.4.0');
$node->safe_psql('postgres', 'ALTER EXTENSION pg_eventstream UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_eventstream'}),
	'0.5.0', 'updated to 0.5.0');
$node->safe_psql('postgres', q{INSERT INTO rows (k, v) VALUES (1, 1); SELECT eventstream.sync('60 s')});

# exactly once: one insert per row, and as many updates as were made
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM rows r
	FULL JOIN (SELECT (l.key->>'id')::bigint AS id, count(*) AS n FROM eventstream.event_log l
			   WHERE l.op = 'insert' GROUP BY 1) e USING (id)
	WHERE r.id IS NULL OR e.n IS DISTINCT FROM 1}),
	'0', 'every row inserted before, during and after the update is in the stream once');
is($node->safe_psql('postgres', q{
	SELECT sum(v) - count(*) FROM rows}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM eventstream.event_log WHERE op = 'update'}),
	'every update is in the stream once');
is($node->safe_psql('postgres', q{
	SELECT count(*) = max(id) AND min(id) = 1 FROM eventstream.event_log}),
	't', 'ids stay dense');
is($node->safe_psql('postgres', q{SELECT min(id) FROM eventstream.poll('reader', 5)}),
	'51', 'the consumer keeps its position');
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM (SELECT * FROM per_k EXCEPT SELECT k, count(*), sum(v) FROM rows GROUP BY k) a) +
	       (SELECT count(*) FROM (SELECT k, count(*), sum(v) FROM rows GROUP BY k EXCEPT SELECT * FROM per_k) b)}),
	'0', 'the aggregate equals its query after the update');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT date_trunc('day', timestamptz '2026-01-01' + k * interval '1 day') AS d,
								 sum(v::float8) AS s FROM rows GROUP BY 1
						  EXCEPT SELECT * FROM per_k_float) x}),
	'0', 'an aggregate of 0.2.0 made after the update is maintained');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT k, count(DISTINCT v) AS dv FROM rows GROUP BY k
						  EXCEPT SELECT * FROM per_k_distinct) x}),
	'0', 'an aggregate of 0.3.0 made after the update is maintained');
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'eventstream.event_log'::regclass) || ' ' ||
		   (SELECT count(*) FROM eventstream._segments() g
			WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = g.rel AND c.contype = 'p'))}),
	'0 0', 'the log has no key of its own, each segment has one');

# the updated catalog is a fresh one
my $describe = q{
	SELECT string_agg(format('%s.%s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull),
					  E'\n' ORDER BY c.relname, a.attnum)
	FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
	WHERE c.relnamespace = 'eventstream'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
	  AND c.relname NOT LIKE 'event_log\_%' AND c.relname NOT LIKE 'aggregate\_%'};
my $objects = q{
	SELECT string_agg(pg_describe_object(classid, objid, objsubid), E'\n'
					  ORDER BY pg_describe_object(classid, objid, objsubid))
	FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_eventstream')};
my $functions = q{
	SELECT string_agg(p.proname || ' ' || md5(pg_get_functiondef(p.oid)), E'\n'
					  ORDER BY p.proname, md5(pg_get_functiondef(p.oid)))
	FROM pg_proc p WHERE p.pronamespace = 'eventstream'::regnamespace AND p.prokind <> 'a'};
my $policies = q{SELECT string_agg(format('%s %s %s %s', tablename, policyname, qual, with_check), E'\n'
					  ORDER BY tablename, policyname)
	FROM pg_policies WHERE schemaname = 'eventstream'};
my $dumped = q{SELECT string_agg(x::regclass::text, ' ' ORDER BY x::regclass::text) FROM pg_extension, unnest(extconfig) x
	WHERE extname = 'pg_eventstream'};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_eventstream');
for my $q ([ $describe, 'columns' ], [ $objects, 'member objects' ], [ $functions, 'functions' ],
	[ $policies, 'policies' ], [ $dumped, 'configuration tables' ])
{
	is($node->safe_psql('postgres', $q->[0]), $node->safe_psql('fresh', $q->[0]),
		"updated and fresh catalogs have the same $q->[1]");
}
$node->safe_psql('fresh', 'DROP EXTENSION pg_eventstream');

# a version the library does not know
$node->safe_psql('postgres', q{UPDATE pg_extension SET extversion = '9.9.9' WHERE extname = 'pg_eventstream'});
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{SELECT eventstream.create_stream('x', '{public.rows}')});
like($stderr, qr/library 0\.5\.0 does not know version 9\.9\.9 of the extension/,
	'the SQL functions refuse an unknown catalog version');
like($stderr, qr/HINT:  Install the pg_eventstream package of version 9\.9\.9/, '... with a hint');
$node->poll_query_until('postgres', q{SELECT state = 'waiting: catalog version' FROM eventstream.status})
  or die "the worker did not wait";
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM eventstream.event_log');
$node->safe_psql('postgres', q{INSERT INTO rows (k, v) SELECT 2, 1 FROM generate_series(1, 10)});
sleep(1);
is($node->safe_psql('postgres', 'SELECT count(*) FROM eventstream.event_log'), $before,
	'the worker captures nothing while the version is unknown');
ok($node->log_contains('capture worker waits: library 0\.5\.0 does not know version 9\.9\.9'),
	'the worker says why it waits');
$node->safe_psql('postgres', q{UPDATE pg_extension SET extversion = '0.5.0' WHERE extname = 'pg_eventstream'});
$node->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});
is($node->safe_psql('postgres', 'SELECT count(*) FROM eventstream.event_log') - $before, 10,
	'with the version known again, what waited is captured once');

done_testing();
