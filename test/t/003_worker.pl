# The capture worker's life: started by CREATE EXTENSION, shown in
# pg_stat_activity, restarted after pg_terminate_backend, NOTIFY after
# each batch from the worker only, stopped (slot dropped) by DROP
# EXTENSION, and never blocking DROP DATABASE.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use EventstreamTest;

my $node = es_node('worker');
$node->safe_psql('postgres', 'CREATE DATABASE app');

my $worker_pid_sql = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'pg_eventstream worker' AND datname = 'app'};

is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_eventstream launcher'}),
	'1', 'the launcher runs, with its own backend_type');
is($node->safe_psql('app', $worker_pid_sql), '',
	'no worker where the extension is not installed');

my $t0 = time;
$node->safe_psql('app', 'CREATE EXTENSION pg_eventstream');
ok($node->poll_query_until('app', "SELECT count(*) = 1 FROM ($worker_pid_sql) w"),
	'CREATE EXTENSION starts a worker');
diag(sprintf('worker running %.2f s after CREATE EXTENSION', time - $t0));
is($node->safe_psql('app',
	q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'eventstream\_%' AND database = 'app'}),
	'1', 'the worker owns a logical slot in its database');

# NOTIFY "eventstream" with the stream's name, sent by the worker
$node->safe_psql('app', q{
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT eventstream.create_stream('ts', '{t}');
});
my $worker = $node->safe_psql('app', $worker_pid_sql);
my ($out, $err) = ('', '');
my $listener = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('app'), '-c', 'LISTEN eventstream',
	  '-c', "SELECT pg_sleep(0.2) FROM generate_series(1, 25)" ],
	'>', \$out, '2>', \$err);
# the listener is registered once it appears in pg_listening_channels' backend
$node->poll_query_until('app',
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(0.2)%'});
$node->safe_psql('app', 'INSERT INTO t VALUES (1); SELECT eventstream.sync();');
$listener->finish;
like($out, qr/Asynchronous notification "eventstream" with payload "ts" received from server process with PID $worker\./,
	'the worker notifies listeners with the stream name');
unlike($out, qr/received from server process with PID (?!$worker\.)/,
	'no one but the worker sends those notifications');

# a terminated worker is restarted, and resumes where it was
$node->safe_psql('app', "SELECT pg_terminate_backend($worker)");
ok($node->poll_query_until('app',
	"SELECT count(*) = 1 FROM ($worker_pid_sql) w WHERE pid <> $worker"),
	'a terminated worker is restarted');
$node->safe_psql('app', 'INSERT INTO t VALUES (2); SELECT eventstream.sync();');
is($node->safe_psql('app', q{SELECT string_agg(id::text || ':' || (new->>'id'), ',' ORDER BY id) FROM eventstream.read('ts')}),
	'1:1,2:2', 'after the restart the stream goes on, nothing lost or doubled');

# SIGHUP: settings are reloaded by the worker
$node->safe_psql('app', q{ALTER SYSTEM SET eventstream.naptime = '50ms'; SELECT pg_reload_conf();});
$node->safe_psql('app', 'INSERT INTO t VALUES (3); SELECT eventstream.sync();');
is($node->safe_psql('app', 'SELECT last_id FROM eventstream.streams'), '3',
	'the worker keeps working after a reload');

# DROP DATABASE is not blocked by the worker or its slot
$node->safe_psql('postgres', 'CREATE DATABASE doomed');
$node->safe_psql('doomed', 'CREATE EXTENSION pg_eventstream');
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_eventstream worker' AND datname = 'doomed'});
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE doomed');
is($ret, 0, 'DROP DATABASE succeeds while its worker runs') or diag($stderr);
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_replication_slots WHERE database = 'doomed'}),
	'0', 'and its slot is gone');

# DROP EXTENSION stops the worker and drops the slot and origin
$node->safe_psql('app', 'DROP EXTENSION pg_eventstream');
ok($node->poll_query_until('app', "SELECT count(*) = 0 FROM ($worker_pid_sql) w"),
	'DROP EXTENSION stops the worker');
ok($node->poll_query_until('app',
	q{SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name LIKE 'eventstream\_%'}),
	'and drops its slot');
# (the worker drops the origin just after the slot: poll for it too)
ok($node->poll_query_until('app', 'SELECT count(*) = 0 FROM pg_replication_origin'),
	'and its origin');

# the worker is back after a restart of the server
$node->safe_psql('app', 'CREATE EXTENSION pg_eventstream');
$node->restart;
ok($node->poll_query_until('app', "SELECT count(*) = 1 FROM ($worker_pid_sql) w"),
	'after a restart the launcher starts the worker again');

done_testing();
