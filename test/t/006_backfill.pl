# Backfill under load: while writers update, delete and insert rows of a
# table, a new stream backfills it in small chunks (and the postmaster is
# killed once in the middle).  Afterwards the stream, replayed key by key
# (snapshot, insert and update set the row, delete removes it), must give
# exactly the table, and no key may have two snapshot events.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EventstreamTest;

my $node = es_node('backfill');
# small chunks, and a pause between reading a chunk and its high watermark
# so that many changes fall between the two and must be reconciled
$node->append_conf('postgresql.conf',
	"eventstream.backfill_chunk_size = 50\neventstream.backfill_test_delay = 100\n");
$node->restart;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_eventstream;
	CREATE TABLE acc (id int PRIMARY KEY, bal bigint NOT NULL, note text);
	INSERT INTO acc SELECT g, g, 'row ' || g FROM generate_series(1, 5000) g;
});

my $script = $node->basedir . '/writers.sql';
open my $fh, '>', $script or die;
print $fh <<'SQL';
\set k random(1, 6000)
\set op random(0, 9)
\if :op < 6
UPDATE acc SET bal = bal + 1, note = 'updated' WHERE id = :k;
\elif :op < 8
DELETE FROM acc WHERE id = :k;
\else
INSERT INTO acc VALUES (:k, 0, 'inserted') ON CONFLICT (id) DO UPDATE SET bal = 0;
\endif
SQL
close $fh;

my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-T', '60', '-f', $script, $node->connstr('postgres') ],
	'>', \my $out, '2>', \my $err);

$node->safe_psql('postgres', q{SELECT eventstream.create_stream('acc', '{acc}', backfill => true)});

# kill -9 once the backfill is under way, then let everything finish
$node->poll_query_until('postgres',
	q{SELECT coalesce(sum(chunks), 0) >= 20 FROM eventstream.backfills})
  or die "backfill made no progress";
$node->kill9;
$pgbench->kill_kill;
es_restart_after_kill($node);
$pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-T', '3', '-f', $script, $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres',
	q{SELECT state = 'done' FROM eventstream.backfills}), 'the backfill finishes');
$pgbench->finish;
$node->safe_psql('postgres', q{SELECT eventstream.sync('60 s')});

is($node->safe_psql('postgres', q{SELECT count(*) > 0 FROM eventstream.read('acc', 0, 1000000) WHERE op <> 'snapshot'}),
	't', 'changes were captured while the backfill ran');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT key FROM eventstream.read('acc', 0, 1000000)
		WHERE op = 'snapshot' GROUP BY key HAVING count(*) > 1) d}),
	'0', 'no key has two snapshot events')
  or diag($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s: ids %s', key, ids), E'\n') FROM (
		SELECT key, array_agg(id ORDER BY id) AS ids FROM eventstream.read('acc', 0, 1000000)
		WHERE op = 'snapshot' GROUP BY key HAVING count(*) > 1 ORDER BY key LIMIT 5) d;
	SELECT * FROM eventstream.backfill_progress ORDER BY chunk_no}));
is($node->safe_psql('postgres', q{
	WITH last AS (
		SELECT DISTINCT ON (key) key, op, new FROM eventstream.read('acc', 0, 1000000)
		ORDER BY key, id DESC),
	replayed AS (
		SELECT (new->>'id')::int AS id, (new->>'bal')::bigint AS bal, new->>'note' AS note
		FROM last WHERE op <> 'delete')
	SELECT count(*) FROM (
		(SELECT * FROM replayed EXCEPT ALL SELECT * FROM acc)
		UNION ALL
		(SELECT * FROM acc EXCEPT ALL SELECT * FROM replayed)) d}),
	'0', 'replaying the stream gives exactly the table');

done_testing();
