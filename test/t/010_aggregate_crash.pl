# Continuous aggregates across crashes: pgbench writers insert, update
# (group keys, values, to and from NULL) and delete rows -- the current
# extremes too -- while the postmaster is killed with SIGKILL several times
# and the worker is terminated once.  Afterwards each view must equal its
# query exactly: no change applied twice or lost.  One aggregate sums
# floats (kept exact: compared with the exact sum) by date_trunc of a
# timestamptz under a pinned zone that is not the server's; two count
# distinct values; one keeps an hll sketch of an insert-only table.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = es_node('aggcrash');
# small batches: crashes fall between and inside many apply transactions
$node->append_conf('postgresql.conf', "eventstream.batch_size = 40\n");
$node->restart;

my %queries = (
	by_key => q{SELECT k, count(*), count(v) AS nv, sum(v), avg(v), min(v), max(v) AS maxv,
					   count(DISTINCT v % 50) AS dv
				FROM facts WHERE flag GROUP BY k},
	overall => q{SELECT count(*), sum(v), min(v), max(v) FROM facts},
	# created while the writers write: its backfill must meet the stream exactly
	late => q{SELECT flag, v % 7 AS r, count(*), sum(v), min(k), max(v), count(DISTINCT k) AS dk
			  FROM facts GROUP BY 1, 2},
	# x = v / 8 exactly, so the exact sum is sum(v) / 8; under the pinned zone
	float_days => q{SELECT date_trunc('day', ts) AS d, count(*), count(x) AS nx,
						   (sum(v::numeric * 0.125))::float8 AS sx
					FROM facts GROUP BY 1},
);
my %defining = (float_days => q{SELECT date_trunc('day', ts) AS d, count(*), count(x) AS nx, sum(x) AS sx
								FROM facts GROUP BY 1});
my %zone = (float_days => 'Asia/Kolkata');

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE facts (id int PRIMARY KEY, k int, v bigint, flag boolean NOT NULL,
		x float8 GENERATED ALWAYS AS (v * 0.125) STORED,
		ts timestamptz GENERATED ALWAYS AS (to_timestamp(1767225600 + id * 420.0)) STORED);
	ALTER TABLE facts REPLICA IDENTITY FULL;
	INSERT INTO facts SELECT g, g % 20, g % 1000, g % 4 <> 0 FROM generate_series(1, 20000) g;
});
$node->safe_psql('postgres',
	"SELECT eventstream.create_aggregate('$_', \$\$$queries{$_}\$\$)") for qw(by_key overall);
$node->safe_psql('postgres', "SET TimeZone = '$zone{float_days}'; "
	. "SELECT eventstream.create_aggregate('float_days', \$\$$defining{float_days}\$\$)");

# an hll sketch over an insert-only table, where the hll extension is
# installed: compared as text (a sketch has no ordering); the row count
# beside it catches a batch applied twice, which a union would not show
my $hll = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_available_extensions WHERE name = 'hll'});
my $hll_query = q{SELECT k, hll_add_agg(hll_hash_integer(v))::text AS users, count(*) AS n
				  FROM hits GROUP BY k};
$node->safe_psql('postgres', q{CREATE TABLE hits (id bigserial PRIMARY KEY, k int, v int)});
if ($hll)
{
	$node->safe_psql('postgres', q{
		CREATE EXTENSION hll;
		SELECT eventstream.create_aggregate('hits_by_k',
			$$SELECT k, hll_add_agg(hll_hash_integer(v)) AS users, count(*) AS n FROM public.hits GROUP BY k$$,
			append_only => true);
	});
}
else
{
	note('hll is not installed: no sketch in this test');
}

my $script = $node->basedir . '/writers.sql';
open my $fh, '>', $script or die;
print $fh <<'SQL';
\set id random(1, 25000)
\set k random(0, 24)
\set v random(-100, 1100)
\set op random(0, 9)
BEGIN;
\if :op < 3
INSERT INTO facts VALUES (:id, :k, :v, :op <> 0) ON CONFLICT (id) DO UPDATE SET v = excluded.v;
\elif :op < 5
UPDATE facts SET k = :k, flag = NOT flag WHERE id = :id;
\elif :op < 6
UPDATE facts SET v = CASE WHEN v IS NULL THEN :v END WHERE id = :id;
\elif :op < 8
DELETE FROM facts WHERE id = :id;
INSERT INTO hits (k, v) VALUES (:k, :v);
\else
DELETE FROM facts WHERE id = (SELECT id FROM facts WHERE k = :k ORDER BY v DESC NULLS LAST LIMIT 1);
\endif
COMMIT;
SQL
close $fh;


sub applied
{
	return $node->safe_psql('postgres', 'SELECT coalesce(sum(count), 0) FROM overall');
}

for my $round (1 .. 4)
{
	my $pgbench = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-T', '120', '-f', $script, $node->connstr('postgres') ],
		'>', \my $out, '2>', \my $err);
	# writers run, the worker applies, then the crash comes mid-stream
	sleep 1;
	$node->safe_psql('postgres',
		"SELECT eventstream.create_aggregate('late', \$\$$queries{late}\$\$)")
	  if $round == 1;
	sleep 1;
	if ($round == 2)
	{
		$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid)
			FROM pg_stat_activity WHERE backend_type = 'pg_eventstream worker'});
		sleep 1;
		$pgbench->kill_kill;
	}
	else
	{
		$node->kill9;
		$pgbench->kill_kill;
		es_restart_after_kill($node);
	}
	note("round $round done");
}

$node->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});
for my $name (sort keys %queries)
{
	my $q = $queries{$name};
	my $set = $zone{$name} ? "SET TimeZone = '$zone{$name}';" : '';
	is($node->safe_psql('postgres', qq{$set
		SELECT (SELECT count(*) FROM (($q) EXCEPT ALL SELECT * FROM $name) a) || '/' ||
			   (SELECT count(*) FROM (SELECT * FROM $name EXCEPT ALL ($q)) b)}),
		'0/0', "$name equals its query after the crashes");
}
if ($hll)
{
	is($node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM (($hll_query) EXCEPT ALL SELECT k, users::text, n FROM hits_by_k) a) || '/' ||
			   (SELECT count(*) FROM (SELECT k, users::text, n FROM hits_by_k EXCEPT ALL ($hll_query)) b)}),
		'0/0', 'the hll sketch and its count equal the query after the crashes');
	ok($node->safe_psql('postgres', 'SELECT count(*) FROM hits') > 0, 'hits were written');
}
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT state, ',') FROM eventstream.aggregates}),
	'ok', 'no aggregate failed or went stale');
my $changes = $node->safe_psql('postgres', q{SELECT count(*) FROM facts});
ok($changes > 0, "the table has $changes rows");

done_testing();
